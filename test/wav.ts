// Test recordings: mono 8 kHz 16-bit PCM WAV files, the format Asterisk records calls in.
import fs from "node:fs";

const RATE = 8000;
const BYTES_PER_SAMPLE = 2;

/** The 44-byte header of a mono 8 kHz 16-bit PCM WAV holding `dataBytes` of samples. */
function header(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write("WAVEfmt ", 8, "ascii");
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(RATE, 24);
  h.writeUInt32LE(RATE * BYTES_PER_SAMPLE, 28); // byte rate
  h.writeUInt16LE(BYTES_PER_SAMPLE, 32); // block align
  h.writeUInt16LE(8 * BYTES_PER_SAMPLE, 34); // bits per sample
  h.write("data", 36, "ascii");
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** A recording that sounds like a call (dial tone, DTMF, a voice-like hum, over noise), so an encoder has real work. */
export function callLikeWav(seconds: number): Buffer {
  const samples = seconds * RATE;
  const wav = Buffer.concat([header(samples * BYTES_PER_SAMPLE), Buffer.alloc(samples * BYTES_PER_SAMPLE)]);
  const toneSets = [[425], [697, 1209], [350, 440], [180, 360, 540]];
  let seed = 0x2545f491;
  for (let i = 0; i < samples; i++) {
    const t = i / RATE;
    const tones = toneSets[Math.floor(t / 2) % toneSets.length]!;
    let value = 0;
    for (const f of tones) value += Math.sin(2 * Math.PI * f * t) / tones.length;
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const noise = (seed >>> 0) / 0xffffffff - 0.5;
    wav.writeInt16LE(Math.round((0.4 * value + 0.1 * noise) * 32767), 44 + i * BYTES_PER_SAMPLE);
  }
  return wav;
}

/** Writes a long recording of silence in no time: the header, then a sparse extension of the file. */
export function writeSilentWav(file: string, seconds: number): void {
  const dataBytes = seconds * RATE * BYTES_PER_SAMPLE;
  fs.writeFileSync(file, header(dataBytes));
  fs.truncateSync(file, 44 + dataBytes);
}
