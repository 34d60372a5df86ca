// The OpenAPI 3 document, generated from the endpoint table so it cannot
// drift from the routes the server serves. Pure; thread-safe.
#pragma once

#include <string>

namespace creditd::http {

std::string openapi_document(bool test_clock);

}  // namespace creditd::http
