// The journal auditor (pure): see audit.hpp.
