// Russian phone numbers as people and PBXs write them: "8 921 345-18-07", "89213451807",
// "79213451807", "+7 (921) 345-18-07", or just the ten national digits "9213451807".

export type RussianFormat = "+7" | "8";

/** Separators people put into numbers; anything else (letters, "*", "#") means it is not a phone. */
const WRITTEN_NUMBER = /^\+?[\d\s().-]+$/;
/** Ten national digits: area or mobile code 3xx–9xx (7xx are Kazakhstan's, also dialled as +7). */
const NATIONAL = /^[3-9]\d{9}$/;

/**
 * The number in the chosen format, or null when it is not a Russian number: short extensions,
 * foreign numbers ("+375…", "+49…") and anything that is not a phone are left to the caller.
 */
export function normaliseRussian(phone: string, format: RussianFormat): string | null {
  const written = phone.trim();
  if (!WRITTEN_NUMBER.test(written)) return null;
  const digits = written.replace(/\D/g, "");
  const national = nationalPart(digits, written.startsWith("+"));
  return national === null ? null : format + national;
}

function nationalPart(digits: string, international: boolean): string | null {
  let national: string;
  if (international) {
    // "+8…" is not a Russian number written wrong; it is not ours to guess.
    if (digits.length !== 11 || !digits.startsWith("7")) return null;
    national = digits.slice(1);
  } else if (digits.length === 11 && (digits.startsWith("7") || digits.startsWith("8"))) {
    national = digits.slice(1);
  } else if (digits.length === 10) {
    national = digits; // some trunks send the national number without any prefix
  } else {
    return null;
  }
  return NATIONAL.test(national) ? national : null;
}

/** `config.format`: "+7" (the default, E.164 as Bitrix24 stores numbers) or "8" (as dialled at home). */
export function formatFromConfig(config: Record<string, unknown>): RussianFormat {
  const format = config["format"] ?? "+7";
  if (format === "+7" || format === "8") return format;
  throw new Error(`ru-phones: config.format must be "+7" or "8", got ${JSON.stringify(format)}`);
}
