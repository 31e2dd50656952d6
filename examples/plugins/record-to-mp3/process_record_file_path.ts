// Converts the call recording to mp3 with a bitrate of the tenant's choosing. hookhost already
// converts every recording at 32 kbps with no plugin, as a stock connector does (docs/hooks.md,
// process_record_file_path); this example shows ctx.records for a tenant that wants another
// bitrate, or other recording keys. Asterisk writes 8 kHz WAV, about 1 MB a minute.
//
// Needs `"records": true` in plugin.json and a records folder for the tenant (`recordsDir` in
// hookhost.json; without a config file, HOOKHOST_RECORDS_DIR): the host converts only files inside
// that folder. The encoder runs outside the sandbox within what is left
// of the record chain's 9 s; the mp3 appears beside the wav only once it is complete, and the wav
// is kept.
//
//   "bitrateKbps": 32   mp3 bitrate, 8–320; 32 is plenty for narrow-band telephone audio
//
// Any failure (file outside recordsDir, no encoder, time up) is logged and that path is answered
// unchanged, so the connector uploads the original wav: a recording is never lost for a format.
export default defineHook("process_record_file_path", async (input, ctx) => {
  const records = ctx.records;
  if (!records) {
    ctx.log.error('ctx.records is missing: plugin.json needs "records": true');
    return undefined;
  }
  const bitrateKbps = ctx.config["bitrateKbps"] ?? 32;
  if (typeof bitrateKbps !== "number") {
    ctx.log.warn("recording not converted: config.bitrateKbps must be a number", { bitrateKbps });
    return undefined;
  }

  // The connector's docs do not name the path key (fixtures use file_path), so every root string
  // naming a .wav is a recording; call_full and call_stage never do.
  const converted: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) {
    if (typeof value !== "string" || !value.toLowerCase().endsWith(".wav")) continue;
    try {
      converted[key] = await records.convert(value, { format: "mp3", bitrateKbps });
    } catch (e) {
      ctx.log.warn("recording not converted; the original file is uploaded", {
        key,
        path: value,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  // Keys left out keep the path they had: only the recordings that converted change.
  return Object.keys(converted).length > 0 ? converted : undefined;
});
