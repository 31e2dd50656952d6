// A client's secondary numbers map to the number their CRM contact is filed under.
export default function alias(input, ctx) {
  return { phone: ctx.config.aliases[input.phone] ?? input.phone };
}
