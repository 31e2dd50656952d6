// A gate for CRM lookups: a call on a test trunk or from a blocked number gets a placeholder number,
// so the CRM finds and creates no contact for it; every other call passes unchanged.
export default function gate(input, ctx) {
  const { testTrunks, blockedPrefixes, placeholder } = ctx.config;
  const trunk = input.call_full?.channel?.trunk?.number;
  if (testTrunks.includes(trunk) || blockedPrefixes.some((p) => input.phone.startsWith(p))) return { phone: placeholder };
  return null;
}
