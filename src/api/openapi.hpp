// GET /openapi.json: the API description (api/description.hpp) rendered as an
// OpenAPI 3.1 document, with request bodies, query and path parameters,
// response schemas and every result code. Pure; thread-safe.
#pragma once

#include <string>

namespace creditd::api {

// The document as JSON text; the test-clock endpoints only when `test_clock`.
std::string openapi_document(bool test_clock);

}  // namespace creditd::api
