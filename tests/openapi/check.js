// Validate an OpenAPI document with @readme/openapi-parser: the OpenAPI 3.1
// JSON schema, then the rules a schema cannot say (every $ref resolves, path
// parameters declared once and used, operationIds unique...). Exit 1 on any
// problem, naming it.
"use strict";
const OpenAPIParser = require("@readme/openapi-parser");

async function main() {
	const file = process.argv[2];
	if (!file) {
		console.error("usage: node check.js FILE");
		process.exit(2);
	}
	try {
		const api = await OpenAPIParser.validate(file);
		if (!/^3\.1\.\d+$/.test(api.openapi)) {
			throw new Error(`openapi is ${api.openapi}, not 3.1.x`);
		}
		const ops = Object.values(api.paths).reduce((n, p) => n + Object.keys(p).length, 0);
		console.log(`openapi: ${file} is valid OpenAPI ${api.openapi}: ${Object.keys(api.paths).length} paths, ${ops} operations`);
	} catch (err) {
		console.error(`openapi: ${file} is NOT valid: ${err.message}`);
		if (Array.isArray(err.details)) {
			for (const d of err.details.slice(0, 20)) console.error(JSON.stringify(d));
		}
		process.exit(1);
	}
}

main();
