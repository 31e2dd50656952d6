// Adds a timeline comment "Звонок через <trunk name> (<trunk number>)" to the lead, contact or
// company the call was registered on, so a manager sees at a glance which line the client used
// (an advertising number, the 8-800 line) without opening the call's details.
//
// Needs in plugin.json (README.md in this folder):
//   "allowHosts": ["<portal>.bitrix24.ru"]   the only host ctx.http may reach
//   "store": true                            remembers which calls were already commented
//   "config": { "webhookUrl": "https://<portal>.bitrix24.ru/rest/<user>/<secret>/" }
//     an incoming webhook with the `crm` scope
//
// A failure (the portal unreachable or answering an error) is thrown: the host logs it and traces
// the run as `error`; post_registration's answer is ignored by the connector anyway.

const NO_LINE = "неизвестную линию";

export default defineHook("post_registration", async (input, ctx) => {
  const { http, store } = ctx;
  if (!http || !store) {
    ctx.log.error('ctx.http or ctx.store is missing: plugin.json needs "allowHosts" and "store": true');
    return undefined;
  }
  const webhookUrl = ctx.config["webhookUrl"];
  if (typeof webhookUrl !== "string" || !/^https?:\/\/[^/]+\/.*\/$/.test(webhookUrl)) {
    ctx.log.error("config.webhookUrl must be the portal's incoming webhook URL, ending in /", { webhookUrl });
    return undefined;
  }

  const call = input.call_full;
  const registration = call.registration;
  // Not registered (or not on a CRM entity): there is nothing to comment on.
  if (!registration?.CRM_ENTITY_ID || !registration.CRM_ENTITY_TYPE) return undefined;

  // The hook may run again for the same call (another stage, a retried request): one comment is enough.
  const key = `commented:${call.channel.id}`;
  if ((await store.get(key)) !== undefined) return undefined;

  const response = await http.fetch(webhookUrl + "crm.timeline.comment.add.json", {
    method: "POST",
    body: {
      fields: {
        ENTITY_ID: registration.CRM_ENTITY_ID,
        // Bitrix24 names entity types in lower case here ("contact"); the registration in upper.
        ENTITY_TYPE: registration.CRM_ENTITY_TYPE.toLowerCase(),
        COMMENT: `Звонок через ${lineOf(call.channel.trunk)}`,
      },
    },
  });
  const answer = response.json as { result?: unknown; error?: string; error_description?: string } | undefined;
  if (response.status !== 200 || answer?.result === undefined) {
    const reason = answer?.error_description ?? answer?.error ?? response.text.slice(0, 200);
    throw new Error(`crm.timeline.comment.add answered ${response.status}: ${reason}`);
  }
  // Marked only once Bitrix24 has the comment, so a failed attempt is retried at the next stage.
  await store.set(key, answer.result);
  return undefined;
});

/** "СПб, основной (78123097700)"; a click-to-call may not know its trunk yet. */
function lineOf(trunk: NumberInfo): string {
  if (trunk.name && trunk.number) return `${trunk.name} (${trunk.number})`;
  return trunk.name || trunk.number || NO_LINE;
}
