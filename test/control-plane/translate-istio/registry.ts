/** The registry the translation tests share: two HTTP/gRPC services in `shop` with versioned endpoints, a TCP one in `data`. */
import type { RegistrySnapshot } from '../../../control-plane/registry/types.js';

export const registry: RegistrySnapshot = {
  services: [
    {
      name: 'reviews',
      namespace: 'shop',
      addresses: ['10.96.0.10'],
      ports: [
        {
          name: 'http',
          port: 9080,
          protocol: 'HTTP',
          endpoints: [
            { address: '10.0.0.1', port: 9080, labels: { version: 'v1' } },
            { address: '10.0.0.2', port: 9080, labels: { version: 'v2' } },
            { address: '10.0.0.3', port: 9080, labels: { version: 'v3' } },
          ],
        },
      ],
    },
    {
      name: 'ratings',
      namespace: 'shop',
      addresses: [],
      ports: [
        {
          name: 'grpc',
          port: 7070,
          protocol: 'GRPC',
          endpoints: [
            { address: '10.0.0.5', port: 17070, labels: { version: 'v1' } },
            { address: '10.0.0.6', port: 17070, labels: { version: 'v2' } },
          ],
        },
      ],
    },
    { name: 'db', namespace: 'data', addresses: [], ports: [{ name: 'pg', port: 5432, protocol: 'TCP', endpoints: [{ address: '10.0.1.5', port: 5432, labels: { role: 'primary' } }] }] },
  ],
};
