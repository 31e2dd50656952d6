/** One answer of the host, as the checks outside the load runs need it. */
export interface Answer {
  status: number;
  body: string;
  trace: string[];
  ms: number;
}

export async function postHook(url: string, tenant: string, hook: string, body: string, token?: string): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/tenants/${tenant}/hooks/${hook}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  const text = await response.text();
  const trace = response.headers.get("x-hook-trace");
  return { status: response.status, body: text, trace: trace ? trace.split(",") : [], ms: performance.now() - started };
}

/** A gauge or counter sum from the host's Prometheus text: every series of `name` whose labels match `labels`. */
export function metricSum(text: string, name: string, labels: (l: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && labels(m[2] ?? "")) sum += Number(m[3]);
  }
  return sum;
}
