/*
 * plot_dl.c: PLplot loaded at the first figure; see plot_int.h.
 *
 * Linked, PLplot and the libraries under it (cairo's driver comes later,
 * through PLplot's own module loader, but libplplot itself brings
 * libstdc++, freetype, libpng, qhull, shapelib and others) were loaded at
 * the start of every kvsim process, about 1 ms of a run that draws
 * nothing. KVSIM_PLPLOT_SONAME is the library's soname, found by CMake.
 */
#define _POSIX_C_SOURCE 200809L

#include "analysis/plot_int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef KVSIM_PLPLOT_SONAME
#define KVSIM_PLPLOT_SONAME "libplplot.so"
#endif

#define PLOT_DL_DEFINE(name, symbol) __typeof__(symbol) *plot_dl_##name;
PLOT_DL_FUNCS(PLOT_DL_DEFINE)
#undef PLOT_DL_DEFINE

int plot_dl_load(char *err, size_t errlen)
{
    static void *lib;
    if (lib != NULL)
        return 0;
    /* RTLD_GLOBAL: PLplot's drivers, which it opens itself, see its
     * symbols as they did when kvsim was linked against it. */
    void *h = dlopen(KVSIM_PLPLOT_SONAME, RTLD_LAZY | RTLD_GLOBAL);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(err, errlen,
                 "cannot load PLplot (%s): %s (Debian: libplplot-dev, plplot-driver-cairo)",
                 KVSIM_PLPLOT_SONAME, why != NULL ? why : "unknown error");
        return -1;
    }
    /* dlsym returns an object pointer; POSIX guarantees it converts to a
     * function pointer, which ISO C does not say: copied through memcpy. */
#define PLOT_DL_LOOKUP(name, symbol)                                                               \
    {                                                                                              \
        void *p = dlsym(h, #symbol);                                                               \
        if (p == NULL) {                                                                           \
            snprintf(err, errlen, "%s has no %s", KVSIM_PLPLOT_SONAME, #symbol);                   \
            dlclose(h);                                                                            \
            return -1;                                                                             \
        }                                                                                          \
        _Static_assert(sizeof(plot_dl_##name) == sizeof(p), "a function pointer's size");          \
        memcpy(&plot_dl_##name, &p, sizeof(p));                                                    \
    }
    PLOT_DL_FUNCS(PLOT_DL_LOOKUP)
#undef PLOT_DL_LOOKUP
    lib = h;
    return 0;
}
