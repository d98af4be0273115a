# One recurrent layer (GRU, LSTM, SimpleRNN): pack Keras weights, unpack them, run the forward
# pass (fg_gru.h). A config is a fastgru.spec.GruConfig (or a plain tuple of its 6 to 8
# fields), in fg_gru_config's field order (precision 0 = fp32, cell 0 = GRU when left out).
# The checks here guard memory: every array's shape and strides are verified against the
# config before a pointer reaches C.

cdef int _gru_config(object config, fg_gru_config *cfg) except -1:
    if len(config) not in (6, 7, 8):
        raise FastGRUError(f"GRU config must have 6 to 8 fields, got {len(config)}")
    cfg.input_dim, cfg.units, cfg.reset_after, cfg.use_bias, cfg.activation, \
        cfg.recurrent_activation, cfg.precision, cfg.cell = \
        [int(v) for v in config] + [0] * (8 - len(config))
    _check(fg_gru_check_config(cfg))
    return 0


_TYPE_NAMES = {cnp.NPY_FLOAT32: "float32", cnp.NPY_UINT8: "uint8"}


cdef int _check_array(object obj, str what, tuple shape, int typenum,
                      bint contiguous_last=True) except -1:
    """`obj` must be an aligned, native-endian ndarray of `typenum` and `shape`, with
    non-negative strides that are whole elements (what the C strides can express) and, unless
    told otherwise, a contiguous last axis. C-API checks: this runs on every call."""
    if (not cnp.PyArray_Check(obj) or cnp.PyArray_TYPE(<cnp.ndarray>obj) != typenum
            or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>obj)
            or not cnp.PyArray_ISALIGNED(<cnp.ndarray>obj)):
        raise FastGRUError(f"{what}: expected an aligned native {_TYPE_NAMES[typenum]} ndarray, "
                           f"got {type(obj).__name__} {getattr(obj, 'dtype', '')}")
    cdef cnp.ndarray arr = <cnp.ndarray>obj
    cdef int ndim = cnp.PyArray_NDIM(arr), axis
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(arr)
    cdef cnp.npy_intp *strides = cnp.PyArray_STRIDES(arr)
    cdef cnp.npy_intp item = cnp.PyArray_ITEMSIZE(arr)
    cdef bint same_shape = ndim == len(shape)
    for axis in range(ndim if same_shape else 0):
        same_shape = same_shape and dims[axis] == <cnp.npy_intp>shape[axis]
    if not same_shape:
        raise FastGRUError(f"{what}: expected shape {shape}, got {obj.shape}")
    if cnp.PyArray_SIZE(arr) == 0:
        return 0                    # nothing is read or written; numpy's strides may be 0
    for axis in range(ndim):
        if dims[axis] > 1 and (strides[axis] < 0 or strides[axis] % item != 0
                               or (contiguous_last and axis == ndim - 1 and strides[axis] != item)):
            raise FastGRUError(f"{what}: strides {obj.strides} are not supported "
                               f"(need a contiguous last axis and non-negative strides)")
    return 0


cdef inline int64_t _stride(cnp.ndarray arr, int axis):
    # An axis of length <= 1 (or an empty array) is never stepped along; numpy's stride there
    # may be anything.
    if cnp.PyArray_DIMS(arr)[axis] <= 1 or cnp.PyArray_SIZE(arr) == 0:
        return 0
    return cnp.PyArray_STRIDES(arr)[axis] // cnp.PyArray_ITEMSIZE(arr)


def gru_packed_bytes(config):
    """Bytes of the packed weights for `config`."""
    cdef fg_gru_config cfg
    _gru_config(config, &cfg)
    return fg_gru_packed_bytes(&cfg)


def _aligned_bytes(size_t n):
    """A uint8 array of n bytes whose data starts on a 64-byte boundary."""
    raw = np.empty(n + 64, dtype=np.uint8)
    start = (-<size_t>cnp.PyArray_DATA(raw)) % 64
    return raw[start:start + n]


def _weight_shapes(config):
    input_dim, units, reset_after, use_bias = [int(v) for v in config[:4]]
    gates = CELL_GATES.get(int(config[7]) if len(config) > 7 else 0, 3)
    bias = None
    if use_bias:
        bias = (2, 3 * units) if reset_after else (gates * units,)
    return (input_dim, gates * units), (units, gates * units), bias


def gru_pack(config, kernel, recurrent_kernel, bias):
    """Pack C-contiguous float32 Keras weights; returns a 64-byte aligned uint8 array."""
    cdef fg_gru_config cfg
    _gru_config(config, &cfg)
    k_shape, rk_shape, b_shape = _weight_shapes(config)
    _check_array(kernel, "kernel", k_shape, cnp.NPY_FLOAT32)
    _check_array(recurrent_kernel, "recurrent_kernel", rk_shape, cnp.NPY_FLOAT32)
    if not (kernel.flags.c_contiguous and recurrent_kernel.flags.c_contiguous):
        raise FastGRUError("gru_pack: kernel and recurrent_kernel must be C-contiguous")
    cdef const float *bias_ptr = NULL
    if b_shape is not None:
        _check_array(bias, "bias", b_shape, cnp.NPY_FLOAT32)
        if not bias.flags.c_contiguous:
            raise FastGRUError("gru_pack: bias must be C-contiguous")
        bias_ptr = <const float *>cnp.PyArray_DATA(bias)
    packed = _aligned_bytes(fg_gru_packed_bytes(&cfg))
    _check(fg_gru_pack(&cfg, <const float *>cnp.PyArray_DATA(kernel),
                       <const float *>cnp.PyArray_DATA(recurrent_kernel), bias_ptr,
                       cnp.PyArray_DATA(packed)))
    return packed


cdef int _check_packed(fg_gru_config *cfg, object packed) except -1:
    if (not cnp.PyArray_Check(packed) or cnp.PyArray_TYPE(<cnp.ndarray>packed) != cnp.NPY_UINT8
            or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>packed)
            or <size_t>cnp.PyArray_NBYTES(<cnp.ndarray>packed) != fg_gru_packed_bytes(cfg)
            or (<size_t>cnp.PyArray_DATA(<cnp.ndarray>packed)) % 64):
        raise FastGRUError("packed GRU weights: expected the 64-byte aligned uint8 array "
                           "gru_pack returned for this config")
    return 0


def gru_unpack(config, packed):
    """(kernel, recurrent_kernel, bias or None) in Keras layout from packed weights."""
    cdef fg_gru_config cfg
    _gru_config(config, &cfg)
    _check_packed(&cfg, packed)
    k_shape, rk_shape, b_shape = _weight_shapes(config)
    kernel = np.empty(k_shape, dtype=np.float32)
    recurrent_kernel = np.empty(rk_shape, dtype=np.float32)
    bias = None if b_shape is None else np.empty(b_shape, dtype=np.float32)
    _check(fg_gru_unpack(&cfg, cnp.PyArray_DATA(packed), <float *>cnp.PyArray_DATA(kernel),
                         <float *>cnp.PyArray_DATA(recurrent_kernel),
                         NULL if bias is None else <float *>cnp.PyArray_DATA(bias)))
    return kernel, recurrent_kernel, bias


def gru_forward(config, packed, x, mask, h0, y, h_final, *, bint go_backwards=False,
                bint return_sequences=False, bint zero_output_for_mask=False, int nthreads=0,
                c0=None, c_final=None):
    """Run one recurrent layer, writing into `y` (and `h_final` unless None), GIL released.

    x: float32 (B, T, input_dim), any non-negative strides with a contiguous feature axis (so a
    time-major array can be passed as its (1, 0, 2) transpose); mask: None or uint8 (B, T);
    h0: None or float32 (B, units); y: float32 (B, T, units) when return_sequences else
    (B, units); h_final: None or float32 (B, units), which may be h0 itself. y and h_final may
    be views into larger arrays (e.g. one half of a concatenation). An LSTM's cell state: c0
    and c_final, as h0 and h_final (read only for an LSTM).
    """
    cdef fg_gru_config cfg
    cdef fg_gru_run run
    _gru_config(config, &cfg)
    _check_packed(&cfg, packed)
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        raise FastGRUError(f"x: expected a (batch, timesteps, {cfg.input_dim}) float32 array")
    batch, timesteps = x.shape[0], x.shape[1]
    _check_array(x, "x", (batch, timesteps, cfg.input_dim), cnp.NPY_FLOAT32)
    state_shape = (batch, cfg.units)
    _check_array(y, "y", (batch, timesteps, cfg.units) if return_sequences else state_shape,
                 cnp.NPY_FLOAT32)
    run.batch, run.timesteps = batch, timesteps
    run.x = <const float *>cnp.PyArray_DATA(x)
    run.x_sb, run.x_st = _stride(x, 0), _stride(x, 1)
    run.mask, run.m_sb, run.m_st = NULL, 0, 0
    if mask is not None:
        _check_array(mask, "mask", (batch, timesteps), cnp.NPY_UINT8, contiguous_last=False)
        run.mask = <const uint8_t *>cnp.PyArray_DATA(mask)
        run.m_sb, run.m_st = _stride(mask, 0), _stride(mask, 1)
    run.h0, run.h0_sb = NULL, 0
    if h0 is not None:
        _check_array(h0, "initial_state", state_shape, cnp.NPY_FLOAT32)
        run.h0, run.h0_sb = <const float *>cnp.PyArray_DATA(h0), _stride(h0, 0)
    run.y = <float *>cnp.PyArray_DATA(y)
    run.y_sb = _stride(y, 0)
    run.y_st = _stride(y, 1) if return_sequences else 0
    run.h_final, run.hf_sb = NULL, 0
    if h_final is not None:
        _check_array(h_final, "h_final", state_shape, cnp.NPY_FLOAT32)
        run.h_final, run.hf_sb = <float *>cnp.PyArray_DATA(h_final), _stride(h_final, 0)
    run.c0, run.c0_sb, run.c_final, run.cf_sb = NULL, 0, NULL, 0
    if c0 is not None:
        _check_array(c0, "initial cell state", state_shape, cnp.NPY_FLOAT32)
        run.c0, run.c0_sb = <const float *>cnp.PyArray_DATA(c0), _stride(c0, 0)
    if c_final is not None:
        _check_array(c_final, "c_final", state_shape, cnp.NPY_FLOAT32)
        run.c_final, run.cf_sb = <float *>cnp.PyArray_DATA(c_final), _stride(c_final, 0)
    run.go_backwards = go_backwards
    run.return_sequences = return_sequences
    run.zero_output_for_mask = zero_output_for_mask
    run.nthreads = nthreads
    cdef const void *packed_ptr = cnp.PyArray_DATA(packed)
    cdef int status
    cdef double flops = (2.0 * CELL_GATES[cfg.cell] * batch * timesteps
                         * (cfg.input_dim + cfg.units) * cfg.units)
    if flops < _NOGIL_MIN_FLOPS:
        status = fg_gru_forward(&cfg, packed_ptr, &run, NULL)
        _check(status)
        return
    cdef int sigint = _sigint_cancels_begin(flops)
    with nogil:
        status = fg_gru_forward(&cfg, packed_ptr, &run, NULL)
    _sigint_cancels_end(sigint, status)
    _check(status)
