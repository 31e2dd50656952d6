// Facts about a finished call, read from call_full (docs/hooks.md, "call_full").

/** Go's zero time: the moment has not happened (a call nobody answered has no answer_time). */
const NEVER = "0001-01-01 00:00:00";

/** The internal side of a conversation: the extension that rang on inbound, the one dialling out. */
function extensionOf(channel: Channel): string {
  return channel.type === "outgoing" ? channel.from.number : channel.to.number;
}

/** The extensions that answered, in the order they did: ["205", "202"] for a transferred call. */
export function answeringExtensions(call: CallFull): string[] {
  return Object.values(call.conversations)
    .map((c) => c.channel)
    .filter((ch) => ch.was_answered)
    .sort((a, b) => (a.answer_time < b.answer_time ? -1 : a.answer_time > b.answer_time ? 1 : 0))
    .map(extensionOf)
    .filter((ext) => ext !== "");
}

/** "2025-06-17 12:15:02" in the PBX's zone → "2025-06-17T12:15:02+03:00", as Bitrix24 takes dates; null if it never happened. */
export function isoTime(time: DateTime, utcOffset: string): string | null {
  if (time === NEVER || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(time)) return null;
  return `${time.replace(" ", "T")}${utcOffset}`;
}
