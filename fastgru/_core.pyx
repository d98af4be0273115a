# The one compiled module: a thin binding over the C library in src_c/.
# Each part lives in its own include file so the pieces stay small.
include "_common.pxi"
include "_gru.pxi"
include "_model.pxi"
