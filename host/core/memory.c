/*
** memory.c: huge pages for the Lua heap. See memory.h.
*/
#include <stdint.h>
#include "core/memory.h"

#if defined(__SANITIZE_ADDRESS__) || !defined(__linux__)

void gl_memory_open(lua_State *L) {
  (void)L;
}

#else

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)

/* glibc grows its heap by at least this much at a time, so what it adds
** holds whole huge pages. Untouched, it costs nothing. */
#define TOP_PAD (16 << 20)

static lua_Alloc real_alloc;
static uintptr_t advised;  /* the heap below this is advised already */
static unsigned calls;     /* the break is looked at every 64th call */

/* Advise the whole huge pages inside [from, to). */
static void advise(uintptr_t from, uintptr_t to) {
  from = (from + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  to &= ~(HUGE_PAGE - 1);
  if (to > from) madvise((void *)from, to - from, MADV_HUGEPAGE);
}

/* Lua's allocator, then: a big block (glibc mmaps those) is advised as it
** comes; the heap when sbrk(0), a read of glibc's cached break, shows it
** grew by a huge page or more. */
static void *thp_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  void *p = real_alloc(ud, ptr, osize, nsize);
  if (p != NULL && nsize >= 2 * HUGE_PAGE) advise((uintptr_t)p, (uintptr_t)p + nsize);
  if ((++calls & 63) == 0) {
    uintptr_t brk = (uintptr_t)sbrk(0);   /* late by a few calls: a few 4 KB faults */
    if (brk > advised + HUGE_PAGE) {
      advise(advised, brk);
      advised = brk;
    }
  }
  return p;
}

void gl_memory_open(lua_State *L) {
  void *ud;
  if (real_alloc != NULL) return;
  mallopt(M_TOP_PAD, TOP_PAD);
  real_alloc = lua_getallocf(L, &ud);
  advised = (uintptr_t)sbrk(0);
  lua_setallocf(L, thp_alloc, ud);
}

#endif
