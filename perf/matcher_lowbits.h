/* matcher_lowbits.h -- renames the matcher's public functions for the
 * baseline copy bench_matcher links next to the real one.
 *
 * The Makefile compiles matcher/matcher.c a second time with
 * -DMT_INDEX_HOME_LOWBITS (order ids homed in the id index by their low
 * bits, as before 2026-11-22) and this header forced in, so one
 * bench_matcher process measures both homings side by side (--workload
 * idwrap). Nothing else uses it. Every function matcher/matcher.c defines
 * with external linkage must be listed here (else bench_matcher fails to
 * link with "multiple definition"): `nm build/obj/matcher/matcher.o`. */
#ifndef XCHG_PERF_MATCHER_LOWBITS_H
#define XCHG_PERF_MATCHER_LOWBITS_H

#define mtBookMemAlloc            mtLowbitsBookMemAlloc
#define mtBookMemFree             mtLowbitsBookMemFree
#define mtEngineAddInstrument     mtLowbitsAddInstrument
#define mtEngineAttachInstrument  mtLowbitsAttachInstrument
#define mtEngineMaxInstruments    mtLowbitsMaxInstruments
#define mtEngineBookInfo          mtLowbitsBookInfo
#define mtEngineCancel            mtLowbitsCancel
#define mtEngineCreate            mtLowbitsCreate
#define mtEngineDepth             mtLowbitsDepth
#define mtEngineDestroy           mtLowbitsDestroy
#define mtEngineForEachOrder      mtLowbitsForEachOrder
#define mtEngineGetCounters       mtLowbitsGetCounters
#define mtEngineGetStats          mtLowbitsGetStats
#define mtEngineIndexStats        mtLowbitsIndexStats
#define mtEngineIndicate          mtLowbitsIndicate
#define mtEngineNewOrder          mtLowbitsNewOrder
#define mtEngineOrderGet          mtLowbitsOrderGet
#define mtEngineReplace           mtLowbitsReplace
#define mtEngineRestoreBook       mtLowbitsRestoreBook
#define mtEngineRestoreOrder      mtLowbitsRestoreOrder
#define mtEngineSetCounters       mtLowbitsSetCounters
#define mtEngineSetReferencePrice mtLowbitsSetReferencePrice
#define mtEngineSetState          mtLowbitsSetState
#define mtEngineState             mtLowbitsState

#endif
