// Whether a request comes from this machine. The development key is only ever put
// in pages served to such a client. A reverse proxy on the same machine connects
// from 127.0.0.1 on behalf of anyone, so a request that carries forwarding headers
// counts as local only when every forwarded address is a loopback address too.
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x (::ffff:127.0.0.1). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  let a = address.trim().toLowerCase();
  if (a.startsWith('[') && a.includes(']')) a = a.slice(1, a.indexOf(']'));
  if (a.startsWith('::ffff:')) a = a.slice('::ffff:'.length);
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) === 6) return a === '::1' || a === '0:0:0:0:0:0:0:1';
  return false;
}

/** Strips a port from `1.2.3.4:80` and quotes/brackets from RFC 7239 `for=` values. */
function forwardedHost(value: string): string {
  let v = value.trim().replace(/^"|"$/g, '');
  if (v.startsWith('[')) return v.slice(1, v.indexOf(']') > 0 ? v.indexOf(']') : undefined);
  if (isIP(v)) return v;
  const colon = v.lastIndexOf(':');
  if (colon > 0 && v.indexOf(':') === colon) v = v.slice(0, colon);
  return v;
}

/** Every address named by Forwarded (for=), X-Forwarded-For and X-Real-IP. */
export function forwardedAddresses(headers: IncomingMessage['headers']): string[] {
  const list = (name: string) => {
    const raw = headers[name];
    return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).join(',');
  };
  const addresses: string[] = [];
  for (const element of list('forwarded').split(',')) {
    for (const pair of element.split(';')) {
      const [key, ...rest] = pair.split('=');
      if (key?.trim().toLowerCase() === 'for') addresses.push(forwardedHost(rest.join('=')));
    }
  }
  // A Forwarded header without any for= still says a proxy stands in between.
  if (headers.forwarded !== undefined && addresses.length === 0) addresses.push('unknown');
  for (const name of ['x-forwarded-for', 'x-real-ip']) {
    if (headers[name] === undefined) continue;
    const values = list(name).split(',').map(forwardedHost);
    addresses.push(...(values.length ? values : ['unknown']));
  }
  return addresses;
}

/** True when the peer is loopback and so is every address a proxy says it forwards for. */
export function isLoopbackRequest(req: Pick<IncomingMessage, 'headers' | 'socket'> | undefined): boolean {
  if (!req || !isLoopbackAddress(req.socket?.remoteAddress)) return false;
  return forwardedAddresses(req.headers).every(isLoopbackAddress);
}
