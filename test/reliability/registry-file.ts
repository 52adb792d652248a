/**
 * The file registry's YAML (design.md, "Service registry (file form)"): `services` services in
 * namespace `shop`, each with `endpoints` endpoints whose addresses depend on `round`, so that
 * each round is a real endpoint change.
 */
export function registryYaml(services: number, endpoints: number, round = 0): string {
  const lines = ['services:'];
  for (let s = 0; s < services; s++) {
    lines.push(`  - name: svc-${s}`, '    namespace: shop', '    ports: [{name: http, port: 8080, protocol: HTTP}]', '    endpoints:');
    for (let e = 0; e < endpoints; e++) lines.push(`      - {address: 10.${(round >> 8) & 255}.${round & 255}.${(e % 250) + 1}, port: ${9000 + Math.floor(e / 250)}}`);
  }
  return `${lines.join('\n')}\n`;
}
