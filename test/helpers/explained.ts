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

/** A node of auto_explain's JSON plan (the fields the tests read). */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Parent Relationship'?: string;
  Plans?: PlanNode[];
}

export interface PlanScan {
  type: string;
  relation: string;
  index?: string;
  indexCond?: string;
  /** Inside a correlated subplan: run again for every row of its parent. */
  inSubPlan: boolean;
}

/** Every scan of a table in a plan (as `of` returns it: not the ModifyTable above them), with where it sits. */
export function scansOf(plan: string): PlanScan[] {
  const walk = (node: PlanNode, inSubPlan: boolean): PlanScan[] => {
    const within = inSubPlan || node['Parent Relationship'] === 'SubPlan';
    const own = node['Relation Name'] && node['Node Type'].endsWith('Scan')
      ? [{ type: node['Node Type'], relation: node['Relation Name'], index: node['Index Name'], indexCond: node['Index Cond'], inSubPlan: within }]
      : [];
    return [...own, ...(node.Plans ?? []).flatMap((child) => walk(child, within))];
  };
  return walk((JSON.parse(plan) as { Plan: PlanNode }).Plan, false);
}
