// 8 921 345-18-07, 89213451807, 79213451807, 9213451807 → +79213451807; anything else (short
// internal numbers, foreign numbers) is left as it is.
export default function normalize(input) {
  const digits = input.phone.replace(/\D/g, "");
  if (digits.length === 10 && digits.startsWith("9")) return { phone: "+7" + digits };
  if (digits.length === 11 && (digits[0] === "8" || digits[0] === "7")) return { phone: "+7" + digits.slice(1) };
  return null;
}
