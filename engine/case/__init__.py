"""Cases (哨件/工单): raise, dispatch, the case-level moves, and requests awaiting decision."""
