# A whole model (fg_model.h): load an image, run batches, stream single steps.
# fastgru/model.py builds the user-facing Model on these; the arrays handed in here have
# already been converted (dtype, C order) and their shapes checked there, and are checked
# again here before a pointer reaches C.
from libc.stdlib cimport malloc, free
from cpython.bytes cimport PyBytes_FromStringAndSize
import math

cdef extern from "fg_model.h" nogil:
    ctypedef struct fg_model:
        pass
    ctypedef struct fg_state:
        pass
    enum:
        FG_DTYPE_FLOAT32
        FG_DTYPE_INT32
        FG_DTYPE_BOOL
        FG_MAX_RANK
    ctypedef struct fg_tensor_info:
        const char *name
        int32_t dtype
        int32_t rank
        int64_t dims[4]
        int32_t time_axis
    int fg_model_load(const void *image, size_t nbytes, fg_model **out)
    int fg_model_set_precision(fg_model *model, int precision)
    void fg_model_free(fg_model *model)
    int fg_model_num_inputs(const fg_model *model)
    int fg_model_num_outputs(const fg_model *model)
    int fg_model_num_time_axes(const fg_model *model)
    int fg_model_input_info(const fg_model *model, int index, fg_tensor_info *info)
    int fg_model_output_info(const fg_model *model, int index, fg_tensor_info *info)
    int64_t fg_model_stateful_batch(const fg_model *model)
    int fg_model_check_streamable(const fg_model *model)
    const char *fg_model_metadata(const fg_model *model, size_t *nbytes)
    int fg_model_workspace_bytes(const fg_model *model, int64_t batch, const int64_t *timesteps,
                                 int32_t nthreads, size_t *bytes)
    int fg_model_resolve_timesteps(const fg_model *model, int64_t *timesteps)
    int fg_model_run(const fg_model *model, fg_state *state, int64_t batch,
                     const int64_t *timesteps,
                     const void *const *inputs, void *const *outputs, void *workspace,
                     size_t workspace_bytes, int32_t nthreads)
    int fg_state_create(const fg_model *model, int64_t batch, fg_state **out)
    void fg_state_free(fg_state *state)
    int fg_state_reset(fg_state *state)
    int64_t fg_state_batch(const fg_state *state)
    int fg_state_set(fg_state *state, int slot, const float *h, size_t n)
    int fg_model_step(const fg_model *model, fg_state *state, const void *const *inputs,
                      void *const *outputs, void *workspace, size_t workspace_bytes,
                      int32_t nthreads)
    int fg_model_weight(const fg_model *model, int index, const void **data, size_t *nbytes,
                        int32_t *layout)
    int fg_model_op_kind(int kind, const char **name, int32_t *min_inputs, int32_t *max_inputs,
                         int32_t *n_outputs, int32_t *n_weights)
    const char *fg_activation_name(int act)


def registry():
    """The op kinds and activations the C library was built with: ([(id, name, min_inputs,
    max_inputs, n_outputs, n_weights)], {activation name: id})."""
    cdef const char *name = NULL
    cdef int32_t min_in = 0, max_in = 0, n_out = 0, n_w = 0
    kinds, activations = [], {}
    cdef int k = 0
    while fg_model_op_kind(k, &name, &min_in, &max_in, &n_out, &n_w) == 0:
        kinds.append((k, name.decode(), min_in, max_in, n_out, n_w))
        k += 1
    k = 0
    while fg_activation_name(k) != NULL:
        activations[fg_activation_name(k).decode()] = k
        k += 1
    return kinds, activations


# Outputs up to this size are allocated before fg_model_run checks the run's shapes: a
# failed run then costs at most this much memory, briefly.
_PLAN_FIRST_OUTPUT_BYTES = 1 << 26

_MODEL_DTYPES = {FG_DTYPE_FLOAT32: np.dtype(np.float32), FG_DTYPE_INT32: np.dtype(np.int32),
                 FG_DTYPE_BOOL: np.dtype(np.bool_)}


cdef _tensor_info(fg_tensor_info *info):
    timed = info.rank > 0 and info.dims[0] == -1
    return (info.name.decode("utf-8", "replace"), _MODEL_DTYPES[info.dtype],
            tuple(None if info.dims[k] == -1 else info.dims[k] for k in range(info.rank)),
            info.time_axis if timed else -1)


cdef tuple _batch_shape(int64_t batch, tuple shape, int axis, tuple times):
    """(batch,) + a per-sample shape with its time axis (None) set to its run-time length
    (a plain loop: this runs for every input and output of every call)."""
    cdef list dims = [batch]
    for d in shape:
        dims.append(times[axis] if d is None else d)
    return tuple(dims)


cdef int _model_times(object times, int n, int64_t *out) except -1:
    if len(times) != n:
        raise FastGRUError(f"the model has {n} time axes, got {len(times)} lengths")
    for k in range(n):
        out[k] = times[k]
    return 0


cdef class ModelCore:
    """A loaded, checked model image (immutable; may be shared by many states and threads)."""
    cdef fg_model *model
    cdef object image            # keeps the caller's buffer alive (fg_model_load does not copy)
    # ((name, dtype, per-sample shape with None for time, time axis or -1), ...)
    cdef readonly tuple inputs
    cdef readonly tuple outputs

    def __cinit__(self, image, int precision=0):
        self.model = NULL
        cdef const unsigned char[::1] view = memoryview(image).cast("B")
        self.image = image
        cdef const void *data = &view[0] if view.shape[0] else NULL
        cdef size_t n = view.shape[0]
        cdef fg_model *m = NULL
        with nogil:
            status = fg_model_load(data, n, &m)
        _check(status)
        self.model = m
        _check(fg_model_set_precision(m, precision))   # 0 fp32, 1 bf16 (fg_gru.h)
        cdef fg_tensor_info info
        ins, outs = [], []
        for i in range(fg_model_num_inputs(m)):
            _check(fg_model_input_info(m, i, &info))
            ins.append(_tensor_info(&info))
        for i in range(fg_model_num_outputs(m)):
            _check(fg_model_output_info(m, i, &info))
            outs.append(_tensor_info(&info))
        self.inputs, self.outputs = tuple(ins), tuple(outs)

    @property
    def num_time_axes(self):
        return fg_model_num_time_axes(self.model)

    def __dealloc__(self):
        if self.model != NULL:
            fg_model_free(self.model)

    @property
    def stateful_batch(self):
        return fg_model_stateful_batch(self.model)

    def check_streamable(self):
        """Raise FastGRUError saying why when the model cannot be streamed step by step."""
        _check(fg_model_check_streamable(self.model))

    def metadata(self):
        """The image's metadata JSON (bytes)."""
        cdef size_t n = 0
        cdef const char *p = fg_model_metadata(self.model, &n)
        return PyBytes_FromStringAndSize(p, n)

    def weight(self, int index):
        """(bytes of weight record `index`, layout id)."""
        cdef const void *data = NULL
        cdef size_t n = 0
        cdef int32_t layout = 0
        _check(fg_model_weight(self.model, index, &data, &n, &layout))
        return PyBytes_FromStringAndSize(<const char *>data, n), layout

    def resolve_times(self, tuple times):
        """`times` (one length per time axis) with the lengths of the axes that layers derive
        (pooling, padding, upsampling) computed from those the inputs give."""
        cdef int n = fg_model_num_time_axes(self.model)
        cdef int64_t t[8]
        _model_times(times, n, t)
        _check(fg_model_resolve_timesteps(self.model, t))
        return tuple(t[k] for k in range(n))

    def workspace_bytes(self, int64_t batch, tuple times, int32_t nthreads=0):
        """Workspace bytes for a run; `times` holds one length per time axis."""
        cdef size_t n = 0
        cdef int64_t t[8]
        times = self.resolve_times(times)
        _model_times(times, fg_model_num_time_axes(self.model), t)
        _check(fg_model_workspace_bytes(self.model, batch, t, nthreads, &n))
        return n

    def _outputs_fit(self, int64_t batch, tuple times, list shapes=None):
        """True when the outputs (all of them, `batch` rows) fit under the memory cap and
        under _PLAN_FIRST_OUTPUT_BYTES; `shapes` collects their (shape, dtype)."""
        nbytes = 0
        for name, dtype, shape, axis in self.outputs:
            dims = _batch_shape(batch, shape, axis, times)
            nbytes += math.prod(dims) * dtype.itemsize
            if shapes is not None:
                shapes.append((dims, dtype))
        return (nbytes <= _PLAN_FIRST_OUTPUT_BYTES
                and fg_check_cap(<size_t>min(nbytes, SIZE_MAX), b"") == FG_OK)

    def check_output_cap(self, int64_t batch, tuple times):
        """Refuse a run whose outputs (all of them, `batch` rows) would not fit under the
        memory cap, before allocating them."""
        times = self.resolve_times(times)
        shapes = []
        if self._outputs_fit(batch, times, shapes):
            return   # the common case: no message to build
        nbytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in shapes)
        check_memory_cap(nbytes, "the run's outputs (" + ", ".join(
            f"{shape} {dtype}" for shape, dtype in shapes) + ")")

    def run(self, list inputs, int64_t batch, tuple times, ModelState state=None,
            int32_t nthreads=0):
        """Run on converted inputs (C-contiguous arrays of the model's dtypes and shapes);
        returns the list of outputs."""
        cdef int n_in = len(self.inputs), n_out = len(self.outputs)
        if len(inputs) != n_in:
            raise FastGRUError(f"model has {n_in} inputs, got {len(inputs)}")
        cdef int64_t t[8]
        times = self.resolve_times(times)
        _model_times(times, fg_model_num_time_axes(self.model), t)
        # fg_model_run plans the run and checks every shape. Planning here first as well
        # only pays where the outputs are large or over the cap: then a crafted image's
        # shapes, and a workspace over the cap, are refused before the outputs are.
        if not self._outputs_fit(batch, times):
            self.workspace_bytes(batch, times, nthreads)
            self.check_output_cap(batch, times)
        outputs = [np.empty(_batch_shape(batch, shape, axis, times), dtype=dtype)
                   for name, dtype, shape, axis in self.outputs]
        for k, (name, dtype, shape, axis) in enumerate(self.inputs):
            _model_check_input(inputs[k], name, dtype, _batch_shape(batch, shape, axis, times))
        cdef const void **in_ptr = <const void **>malloc((n_in + 1) * sizeof(void *))
        cdef void **out_ptr = <void **>malloc((n_out + 1) * sizeof(void *))
        if in_ptr == NULL or out_ptr == NULL:
            free(in_ptr); free(out_ptr)
            raise MemoryError()
        for k in range(n_in):
            in_ptr[k] = cnp.PyArray_DATA(inputs[k])
        for k in range(n_out):
            out_ptr[k] = cnp.PyArray_DATA(outputs[k])
        cdef fg_state *st = NULL if state is None else state.state
        cdef int status
        # every weight is read about once per row and step: ~2 flops per 4-byte weight
        cdef int sigint = _sigint_cancels_begin(0.5 * len(self.image) * batch * max(times + (1,)))
        with nogil:
            status = fg_model_run(self.model, st, batch, t, in_ptr, out_ptr, NULL, 0,
                                  nthreads)
        _sigint_cancels_end(sigint, status)
        free(in_ptr)
        free(out_ptr)
        _check(status)
        return outputs


cdef int _model_check_input(object arr, str name, cnp.dtype dtype, tuple shape) except -1:
    if (not cnp.PyArray_Check(arr) or cnp.PyArray_TYPE(<cnp.ndarray>arr) != dtype.type_num
            or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>arr)
            or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>arr)):
        raise FastGRUError(f"model input '{name}': expected a C-contiguous {dtype} array")
    if arr.shape != shape:
        raise FastGRUError(f"model input '{name}': expected shape {shape}, got {arr.shape}")
    return 0


cdef class ModelState:
    """Carried GRU states for one batch size (a stateful model's, or one stream's)."""
    cdef fg_state *state
    cdef readonly ModelCore core

    def __cinit__(self, ModelCore core, int64_t batch):
        self.state = NULL
        self.core = core
        _check(fg_state_create(core.model, batch, &self.state))

    def __dealloc__(self):
        if self.state != NULL:
            fg_state_free(self.state)

    @property
    def batch(self):
        return fg_state_batch(self.state)

    def reset(self):
        _check(fg_state_reset(self.state))

    def set(self, int slot, h):
        """Set GRU op number `slot`'s carried state to the float32 array h (batch, units)."""
        cdef cnp.ndarray arr = np.ascontiguousarray(h, dtype=np.float32)
        _check(fg_state_set(self.state, slot, <const float *>cnp.PyArray_DATA(arr), arr.size))


cdef enum:
    _IN_FLAGS = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
    _OUT_FLAGS = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE


cdef struct _step_array:
    # what one step's input / output array must be to be used in place: an exact ndarray of
    # this numpy type number, native byte order, these flags and this shape
    int typenum
    int flags
    int ndim
    cnp.npy_intp dims[FG_MAX_RANK + 1]


cdef int _step_array_spec(_step_array *spec, object dtype, tuple shape, int flags) except -1:
    if len(shape) > FG_MAX_RANK + 1:
        raise FastGRUError(f"stream: a step shape {shape} has more than {FG_MAX_RANK + 1} axes")
    spec.typenum = np.dtype(dtype).num
    spec.flags = flags
    spec.ndim = len(shape)
    for k in range(spec.ndim):
        spec.dims[k] = shape[k]
    return 0


cdef inline bint _fits(object a, const _step_array *spec):
    """True when `a` can be used in place (C-API checks only: this runs on every step)."""
    if not cnp.PyArray_CheckExact(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) != spec.typenum or cnp.PyArray_NDIM(arr) != spec.ndim
            or (cnp.PyArray_FLAGS(arr) & spec.flags) != spec.flags
            or not cnp.PyArray_ISNOTSWAPPED(arr)):
        return False
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(arr)
    cdef int k
    for k in range(spec.ndim):
        if dims[k] != spec.dims[k]:
            return False
    return True


cdef class ModelStream:
    """One timestep at a time through the whole model. Shapes, dtypes, the workspace and the
    thread count are resolved once here, so step() only checks its arrays (in C) and steps."""
    cdef ModelCore core
    cdef ModelState state
    cdef object workspace
    cdef void *ws
    cdef size_t workspace_n
    cdef int n_in, n_out
    cdef int32_t nthreads
    cdef bint nogil_step
    cdef const void **in_ptr
    cdef void **out_ptr
    cdef _step_array *in_arrays
    cdef _step_array *out_arrays
    cdef list in_specs      # [(name, dtype, shape of one step)]
    cdef list out_specs
    cdef object convert     # model.py's converter, for inputs that need a dtype / layout change

    def __cinit__(self, ModelCore core, int64_t batch, int32_t nthreads, convert):
        self.in_ptr = NULL
        self.out_ptr = NULL
        self.in_arrays = NULL
        self.out_arrays = NULL
        core.check_streamable()
        self.core = core
        self.state = ModelState(core, batch)
        self.nthreads = nthreads if nthreads > 0 else fg_default_threads()
        self.convert = convert
        self.n_in, self.n_out = len(core.inputs), len(core.outputs)
        # A time axis of length 1 takes no room in memory: one step's arrays drop it.
        self.in_specs = [(name, dtype, (batch,) + tuple(d for d in shape if d is not None))
                         for name, dtype, shape, axis in core.inputs]
        self.out_specs = [(name, dtype, (batch,) + tuple(d for d in shape if d is not None))
                          for name, dtype, shape, axis in core.outputs]
        self.workspace_n = core.workspace_bytes(batch, (1,) * core.num_time_axes, self.nthreads)
        self.workspace = _aligned_bytes(max(self.workspace_n, 64))
        self.ws = cnp.PyArray_DATA(self.workspace)
        # every weight is read once per row and step: ~2 flops per 4-byte weight
        self.nogil_step = 0.5 * len(core.image) * batch >= _NOGIL_MIN_FLOPS
        self.in_ptr = <const void **>malloc((self.n_in + 1) * sizeof(void *))
        self.out_ptr = <void **>malloc((self.n_out + 1) * sizeof(void *))
        self.in_arrays = <_step_array *>malloc((self.n_in + 1) * sizeof(_step_array))
        self.out_arrays = <_step_array *>malloc((self.n_out + 1) * sizeof(_step_array))
        if (self.in_ptr == NULL or self.out_ptr == NULL or self.in_arrays == NULL
                or self.out_arrays == NULL):
            raise MemoryError()
        for k, (name, dtype, shape) in enumerate(self.in_specs):
            _step_array_spec(&self.in_arrays[k], dtype, shape, _IN_FLAGS)
        for k, (name, dtype, shape) in enumerate(self.out_specs):
            _step_array_spec(&self.out_arrays[k], dtype, shape, _OUT_FLAGS)

    def __dealloc__(self):
        free(self.in_ptr)
        free(self.out_ptr)
        free(self.in_arrays)
        free(self.out_arrays)

    @property
    def batch_size(self):
        return self.state.batch

    def reset(self):
        """Zero every carried state; optional initial-state inputs apply again."""
        self.state.reset()

    cdef object _input(self, int k, object x):
        if not _fits(x, &self.in_arrays[k]):
            name, dtype, shape = self.in_specs[k]
            x = self.convert(x, name, dtype, shape)
        self.in_ptr[k] = cnp.PyArray_DATA(x)
        return x

    cdef object _output(self, int k, object out):
        if out is None:
            name, dtype, shape = self.out_specs[k]
            out = np.empty(shape, dtype=dtype)
        elif not _fits(out, &self.out_arrays[k]):
            name, dtype, shape = self.out_specs[k]
            raise FastGRUError(f"stream output '{name}': out= must be a writeable C-contiguous "
                               f"{dtype} array of shape {shape}")
        self.out_ptr[k] = cnp.PyArray_DATA(out)
        return out

    def step(self, x, out=None):
        """Feed one timestep: x is (batch, features) for one input, a list for several.
        Returns the model output(s) for this step, written into `out` when given."""
        cdef int k
        if self.n_in == 1:
            keep = self._input(0, x)
        else:
            if len(x) != self.n_in:
                raise FastGRUError(f"stream step: the model has {self.n_in} inputs, got {len(x)}")
            keep = [self._input(k, x[k]) for k in range(self.n_in)]
        if self.n_out == 1:
            result = self._output(0, out)
        else:
            outs = [None] * self.n_out if out is None else list(out)
            if len(outs) != self.n_out:
                raise FastGRUError(f"stream step: the model has {self.n_out} outputs, out= has "
                                   f"{len(outs)}")
            result = [self._output(k, outs[k]) for k in range(self.n_out)]
        cdef int status
        if self.nogil_step:
            with nogil:
                status = fg_model_step(self.core.model, self.state.state, self.in_ptr,
                                       self.out_ptr, self.ws, self.workspace_n, self.nthreads)
        else:
            status = fg_model_step(self.core.model, self.state.state, self.in_ptr, self.out_ptr,
                                   self.ws, self.workspace_n, self.nthreads)
        if status != FG_OK:
            _check(status)
        return result
