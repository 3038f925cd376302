// Provider secrets at rest: AES-256-GCM with a key derived (HKDF-SHA256) from
// STEPWISE_SECRET. The ciphertext is bound to what it belongs to (the workspace
// id as additional data), so a value copied to another row does not decrypt.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;

function deriveKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'stepwise', `stepwise:${purpose}:${VERSION}`, 32));
}

export class SecretBoxError extends Error {}

export interface SecretBox {
  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts; a fresh IV each time. */
  seal(plaintext: string, boundTo: string): string;
  /** Throws SecretBoxError when the value was sealed with another secret, for another owner, or altered. */
  open(sealed: string, boundTo: string): string;
  /** Bytes only the holder of the secret can compute, stable for `label` (e.g. discount codes). */
  derive(label: string, length: number): Buffer;
}

export function secretBox(secret: string): SecretBox {
  const encryptionKey = deriveKey(secret, 'provider-secrets');
  const macKey = deriveKey(secret, 'derived-values');
  return {
    seal(plaintext, boundTo) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
      cipher.setAAD(Buffer.from(boundTo, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed, boundTo) {
      const [version, iv, tag, ciphertext, ...rest] = sealed.split('.');
      if (version !== VERSION || !iv || !tag || ciphertext === undefined || rest.length) {
        throw new SecretBoxError('the stored secret is not in a known format');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', encryptionKey, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(boundTo, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('the stored secret cannot be decrypted with the current STEPWISE_SECRET');
      }
    },
    derive(label, length) {
      const out = Buffer.alloc(length);
      let filled = 0;
      for (let counter = 0; filled < length; counter++) {
        const block = createHmac('sha256', macKey).update(`${counter}:${label}`).digest();
        filled += block.copy(out, filled);
      }
      return out;
    },
  };
}
