// The plans Postgres ran the real code's statements with: auto_explain, loaded in
// each session of the test database, reports every statement's plan (parameters
// and all) as a notice to the connection that sent it, JSON-formatted.

export interface ExplainedStatement {
  query: string;
  /** auto_explain's JSON plan, as text. */
  plan: string;
}

/** Options for useTestRuntime / useTestApp, and the plans they collect. */
export function explainedStatements() {
  const plans: ExplainedStatement[] = [];
  return {
    plans,
    /** Runs `action` and returns the plans of its statements whose text contains `fragment`. */
    async of(fragment: string, action: () => Promise<unknown>): Promise<string[]> {
      plans.length = 0;
      await action();
      return plans.filter((p) => p.query.includes(fragment)).map((p) => p.plan);
    },
    options: {
      settings: {
        session_preload_libraries: 'auto_explain',
        'auto_explain.log_min_duration': '0',
        'auto_explain.log_level': 'notice',
        'auto_explain.log_format': 'json',
      },
      onNotice: (notice: { message?: string }) => {
        const json = notice.message?.match(/plan:\s*(\{[\s\S]*\})\s*$/)?.[1];
        if (json) plans.push({ query: (JSON.parse(json) as { 'Query Text': string })['Query Text'], plan: json });
      },
    },
  };
}
