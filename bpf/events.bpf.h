/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How kleak.bpf.c declares an event's programs, so that the loader's registry
 * (include/kleak/events.def) and the programs cannot disagree:
 *   KLEAK_RAW_TP(event, args...)       raw_tp/<event> as raw_<event>; fails to compile when its
 *                                      arguments (plus the leading `void *__data`) are not the
 *                                      raw_params the loader checks the kernel's BTF against
 *   KLEAK_RAW_TP_TWIN(event, args...)  its twin raw_<event>_twin (FREE_TWIN in record.bpf.h)
 *   KLEAK_TP(category, event)          tracepoint/<category>/<event> as tp_<event>
 * The sections and the kprobe/bulk-free programs are checked against the registry by the unit
 * test EventRegistry.*, which opens the compiled object.
 */
#ifndef KLEAK_EVENTS_BPF_H
#define KLEAK_EVENTS_BPF_H

#include <bpf/bpf_tracing.h>
#include "kleak/event_names.h"

enum kleak_raw_params {
#define KLEAK_EVENT(kind, category, event, role, raw_params, ...) kleak_raw_params_##event = raw_params,
#include "kleak/events.def"
#undef KLEAK_EVENT
};

/* BPF_PROG pastes its name: expand KLEAK_PROG_RAW(event) first. */
#define KLEAK_BPF_PROG_(name, ...) BPF_PROG(name, __VA_ARGS__)

#define KLEAK_RAW_TP_AS_(event, name, ...)                                                      \
	_Static_assert(___bpf_narg(__VA_ARGS__) + 1 == kleak_raw_params_##event,                \
		       "raw_tp/" #event ": arguments differ from raw_params in kleak/events.def"); \
	SEC("raw_tp/" #event) int KLEAK_BPF_PROG_(name, __VA_ARGS__)

#define KLEAK_RAW_TP(event, ...) KLEAK_RAW_TP_AS_(event, KLEAK_PROG_RAW(event), __VA_ARGS__)
#define KLEAK_RAW_TP_TWIN(event, ...) KLEAK_RAW_TP_AS_(event, KLEAK_PROG_TWIN(event), __VA_ARGS__)
#define KLEAK_TP(category, event) SEC("tracepoint/" #category "/" #event) int KLEAK_PROG_TP(event)

#endif /* KLEAK_EVENTS_BPF_H */
