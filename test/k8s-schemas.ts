import { readFileSync } from 'node:fs';
import { V1ValidatingWebhook } from '@kubernetes/client-node';
import { conformancePath } from './conformance.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON Schema document, walked loosely
type Obj = Record<string, any>;

/**
 * conformance/k8s-schemas has no ValidatingWebhookConfiguration schema, so one is written here from the
 * API's fields: the MutatingWebhookConfiguration schema (same generator, same API group) with the webhook
 * narrowed to the fields @kubernetes/client-node's V1ValidatingWebhook declares (no reinvocationPolicy).
 */
export function validatingWebhookConfigurationSchema(): Obj {
  const mutating = JSON.parse(readFileSync(conformancePath('k8s-schemas', 'mutatingwebhookconfiguration-admissionregistration-v1.json'), 'utf8')) as Obj;
  const defs = mutating.definitions as Record<string, Obj>;
  const mutatingHook = defs.V1MutatingWebhook as Obj;
  const fields = V1ValidatingWebhook.getAttributeTypeMap().map((a) => a.name);
  const props: Record<string, unknown> = {};
  for (const f of fields) {
    if (!(f in mutatingHook.properties)) throw new Error(`V1ValidatingWebhook.${f} has no counterpart in the MutatingWebhook schema`);
    props[f] = mutatingHook.properties[f];
  }
  const { V1MutatingWebhookConfiguration: top, V1MutatingWebhook: _hook, ...rest } = defs;
  return {
    $schema: mutating.$schema,
    title: 'ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1), strict',
    $ref: '#/definitions/V1ValidatingWebhookConfiguration',
    definitions: {
      ...rest,
      V1ValidatingWebhookConfiguration: {
        ...top,
        properties: {
          ...top?.properties,
          kind: { const: 'ValidatingWebhookConfiguration' },
          webhooks: { type: 'array', items: { $ref: '#/definitions/V1ValidatingWebhook' } },
        },
      },
      V1ValidatingWebhook: { ...mutatingHook, properties: props, required: (mutatingHook.required as string[] | undefined)?.filter((r) => fields.includes(r)) },
    },
  };
}

