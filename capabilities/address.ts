// Which IP addresses a hook script may reach without an explicit grant: public unicast only.
// IPv4 is a deny-list of the IANA special-purpose blocks; IPv6 is an allow-list of global unicast
// (2000::/3) minus its special blocks, so loopback, unique-local, link-local, multicast and every
// IPv4-mapped/-compatible/NAT64 form (which could smuggle a private IPv4 address) fall outside it.
import { BlockList, isIP } from "node:net";

const nonPublicV4: Array<[string, number]> = [
  ["0.0.0.0", 8], // "this network", unspecified
  ["10.0.0.0", 8], // RFC 1918
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12], // RFC 1918
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // RFC 1918
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
];

const nonPublicInGlobalV6: Array<[string, number]> = [
  ["2001::", 23], // IETF protocol assignments, Teredo (embeds an IPv4 address)
  ["2001:db8::", 32], // documentation
  ["2002::", 16], // 6to4 (embeds an IPv4 address)
  ["3fff::", 20], // documentation
];

const privateV4 = new BlockList();
for (const [net, prefix] of nonPublicV4) privateV4.addSubnet(net, prefix, "ipv4");

const globalV6 = new BlockList();
globalV6.addSubnet("2000::", 3, "ipv6");

const specialV6 = new BlockList();
for (const [net, prefix] of nonPublicInGlobalV6) specialV6.addSubnet(net, prefix, "ipv6");

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/** True unless `address` is a public unicast IP address; anything that is not an IP counts as private. */
export function isPrivateAddress(address: string): boolean {
  switch (isIP(address)) {
    case 4:
      return privateV4.check(address, "ipv4");
    case 6:
      return !globalV6.check(address, "ipv6") || specialV6.check(address, "ipv6");
    default:
      return true;
  }
}

/** True for 127.0.0.0/8 (also written IPv4-mapped, ::ffff:127.x.x.x) and ::1. */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && loopback.check(address, family === 4 ? "ipv4" : "ipv6");
}
