/*
** memory.h: how the Lua heap meets the kernel. A million green threads
** are a million coroutines: some 1.1 KB each of Lua's own (the state, its
** 40-slot stack, call frames), touched once, as they start. On a VM, where
** each first-touch page fault is dear, faulting that in 4 KB at a time
** was most of the time of 100,000 sleepers (34,000 faults, 0.21 s of
** system time of 0.56 s). So the allocator under Lua asks the kernel for
** transparent huge pages (madvise MADV_HUGEPAGE, the kernel's "madvise"
** mode) on the heap as it grows and on big blocks: the same memory in 2 MB
** faults (about 5,000 faults). It changes nothing else: same allocator,
** same sizes. Not in ASan builds (ASan owns the heap), and a no-op where
** the kernel has no THP.
*/
#ifndef GL_MEMORY_H
#define GL_MEMORY_H

#include <lua.h>

/* Wrap L's allocator (once, before the hub allocates much). */
void gl_memory_open(lua_State *L);

#endif
