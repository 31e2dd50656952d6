// Which extensions of the PBX a call is about, read from call_full (docs/hooks.md, "call_full").

/** The internal side of a conversation: the extension that rings on inbound, the one dialling out. */
export function extensionOf(channel: Channel): string {
  return channel.type === "outgoing" ? channel.from.number : channel.to.number;
}

/**
 * The extensions this stage concerns: the active conversation's while one is going on; at
 * call_ended (no active conversation) every conversation's, as the whole call is then decided.
 */
export function extensionsOf(call: CallFull): string[] {
  const active = call.conversations[call.active_conversation_id];
  const conversations = active ? [active] : Object.values(call.conversations);
  return conversations.map((c) => extensionOf(c.channel)).filter((ext) => ext !== "");
}
