// Row checksums: see sqlite_checksum.hpp.
