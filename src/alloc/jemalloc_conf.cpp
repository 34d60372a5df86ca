// jemalloc's options, compiled into the programs that link it
// (creditd_allocator in CMakeLists.txt: creditd and ledger_bench).
//
// jemalloc reads `malloc_conf` at its first allocation, then MALLOC_CONF,
// which overrides it option by option (MALLOC_CONF=thp:default puts the
// kernel's choice back).
//
// thp:always: jemalloc asks for transparent huge pages (MADV_HUGEPAGE) for
// the memory it maps, where the kernel's setting is `madvise` (Debian's).
// A first touch of a page costs about 11 µs on the PVM machine the bench
// runs on; the writer's new log records and the applier's rows faulted 1 to
// 2.4 times a spread round, and with huge pages 0.05 times. Resident memory
// grows: by about a tenth in the cells of "This machine's page faults"
// (docs/performance.md), by 2.6% for 1,000,000 accounts in the run of
// record at 1ebbd8c ("Huge pages by default").
extern "C" {
const char* malloc_conf = "thp:always";
}
