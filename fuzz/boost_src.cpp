// Boost.JSON and Boost.URL compiled into the fuzzers (they build against
// libc++, unlike Debian's libboost_json and libboost_url).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
