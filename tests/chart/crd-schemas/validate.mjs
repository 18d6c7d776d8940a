// Validate custom resources against the official CRD schemas, as kubectl apply would.
//
// The @kubernetes-models packages (pinned in package.json) ship each CRD's OpenAPI schema,
// generated from the upstream CRD YAML, compiled into a validator. This script runs those
// validators on the objects read from stdin (a JSON array) and, like the API server's strict
// field validation, also reports every field the schema does not know: a field the validator
// never looked at is a field the schema does not declare.
//
//   node validate.mjs < objects.json   ->   [{"kind", "name", "errors": ["/spec/x: ..."]}]

const MODELS = {
  "monitoring.coreos.com/v1/ServiceMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PodMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor",
  "monitoring.coreos.com/v1/PrometheusRule": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
  "keda.sh/v1alpha1/ScaledObject": "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject",
  "gateway.networking.k8s.io/v1/HTTPRoute": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute",
  "gateway.networking.k8s.io/v1/GRPCRoute": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute",
};

// Wrap `value` so that every property the validator reads is recorded as a path; a validator
// that enumerates an object's keys (a free-form map) makes all of them known.
function watched(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.hasOwn(target, key)) return child;
      seen.add(`${path}/${key}`);
      return watched(child, `${path}/${key}`, seen);
    },
    ownKeys(target) {
      seen.add(`${path}/*`);
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(value, path, seen, out) {
  if (value === null || typeof value !== "object" || seen.has(`${path}/*`)) return out;
  for (const key of Object.keys(value)) {
    const child = `${path}/${key}`;
    if (!seen.has(child)) out.push(`${child}: field not declared in the schema`);
    else unknownFields(value[key], child, seen, out);
  }
  return out;
}

async function validateOne(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const result = { kind: obj.kind, name: obj.metadata?.name, errors: [] };
  if (!(key in MODELS)) {
    result.errors.push(`no official schema known for ${key}`);
    return result;
  }
  const model = (await import(MODELS[key]))[obj.kind];
  const seen = new Set();
  try {
    // The model's validate() runs the compiled schema on `this`: here, the watched object.
    model.prototype.validate.call(watched(obj, "", seen));
  } catch (err) {
    if (!err.errors) throw err;
    for (const e of err.errors) result.errors.push(`${e.instancePath || "/"}: ${e.message ?? e.keyword} ${JSON.stringify(e.params ?? {})}`);
  }
  unknownFields(obj, "", seen, result.errors);
  return result;
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const obj of JSON.parse(input)) results.push(await validateOne(obj));
process.stdout.write(JSON.stringify(results));
