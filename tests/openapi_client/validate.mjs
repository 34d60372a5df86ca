// Validates an OpenAPI document against the OpenAPI 3.1 schema with
// @seriousme/openapi-schema-validator and checks that every $ref resolves.
// Usage: node validate.mjs OPENAPI_JSON
import { argv, exit } from "node:process";

import { Validator } from "@seriousme/openapi-schema-validator";

const file = argv[2];
if (!file) {
  console.error("usage: node validate.mjs OPENAPI_JSON");
  exit(2);
}
const validator = new Validator();
const result = await validator.validate(file);
if (!result.valid) {
  console.error(`${file}: not a valid OpenAPI ${validator.version ?? ""} document:`);
  console.error(JSON.stringify(result.errors, null, 2));
  exit(1);
}
if (validator.version !== "3.1") {
  console.error(`${file}: OpenAPI ${validator.version}, expected 3.1`);
  exit(1);
}
try {
  validator.resolveRefs();
} catch (e) {
  console.error(`${file}: a $ref does not resolve: ${e instanceof Error ? e.message : e}`);
  exit(1);
}
console.log(`${file}: valid OpenAPI ${validator.version} (${validator.specification.openapi})`);
