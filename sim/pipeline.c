/*
 * pipeline.c: stage reservation for pipeline parallelism; see pipeline.h.
 */
#include "sim/pipeline.h"

int64_t sim_pipeline_reserve(sim_pipeline *p, int64_t now_ns, int64_t overhead_ns, int64_t stage_ns,
                             int64_t xfer_ns)
{
    int64_t t = now_ns + overhead_ns;
    for (uint32_t k = 0; k < p->stages; k++) {
        if (p->free_ns[k] > t)
            t = p->free_ns[k];
        t += stage_ns;
        p->free_ns[k] = t;
        if (k + 1 < p->stages)
            t += xfer_ns;
    }
    return t;
}
