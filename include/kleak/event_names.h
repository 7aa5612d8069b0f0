/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The names of an event's BPF programs (include/kleak/events.def), in one place for both sides:
 * bpf/kleak.bpf.c declares its programs with them and the loader finds them by them.
 */
#ifndef KLEAK_EVENT_NAMES_H
#define KLEAK_EVENT_NAMES_H

#define KLEAK_PROG_RAW(event) raw_##event          /* raw_tp/<event> */
#define KLEAK_PROG_TWIN(event) raw_##event##_twin  /* raw_tp/<event>, a free's twin (FREE_TWIN) */
#define KLEAK_PROG_TP(event) tp_##event            /* tracepoint/<category>/<event> */
#define KLEAK_PROG_KPROBE(fn) kprobe_##fn          /* kprobe/<fn>: a free */
#define KLEAK_PROG_KRETPROBE(fn) kprobe_##fn##_ret /* kretprobe/<fn>: an allocation */

#define KLEAK_STR_(x) #x
#define KLEAK_STR(x) KLEAK_STR_(x) /* the name a macro above makes, as a string */

#endif /* KLEAK_EVENT_NAMES_H */
