// Boost.JSON compiled into the fuzzers (they build against libc++, unlike
// Debian's libboost_json).
#include <boost/json/src.hpp>
