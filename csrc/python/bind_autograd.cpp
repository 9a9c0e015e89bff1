// Function.apply, the per-call path of every differentiable op, written against the CPython
// API: it runs once per op call, and in Python its bookkeeping (context, needs_input_grad,
// edges, node, output marking) cost three times the kernel of a 100-element add.
// Semantics are python/fibril/autograd/function.py's docstring (forward may return Arrays,
// wrapped here as Tensors, which spares a Python call per op); the classes it builds
// (FunctionCtx, Node, Tensor, the grad-mode state) stay Python and are handed over once by
// `autograd_setup`.
//
// Measured (`python -m bench --family overhead`, quiet machine): a + b on 100 float32 with
// requires_grad, forward + record, 15.0 us with apply in Python -> 5.2 us (torch 6.0-6.3).
#include "python/bindings.h"

namespace fibril::python {
namespace {

struct Refs {
  PyObject* tensor_type = nullptr;
  PyObject* array_type = nullptr;
  PyObject* ctx_type = nullptr;
  PyObject* node_type = nullptr;
  PyObject *s_requires_grad, *s_grad_fn, *s_output_nr, *s_accumulator, *s_make_accumulator, *s_needs,
      *s_forward, *s_data, *s_output_meta, *s_shape, *s_dtype, *s_device, *s_function, *s_ctx, *s_edges,
      *s_num_outputs, *s_pre_hooks, *s_non_differentiable, *s_dirty, *s_detach, *zero;
};
Refs refs;  // set once by autograd_setup; deliberately never released (module lifetime)

// Grad mode (no_grad, enable_grad, ...), per thread as torch's: read on every op call, so a
// C++ thread_local rather than a Python threading.local.
thread_local bool grad_enabled = true;

PyObject* is_grad_enabled(PyObject*, PyObject*) { return PyBool_FromLong(grad_enabled); }

PyObject* set_grad_enabled(PyObject*, PyObject* mode) {
  int on = PyObject_IsTrue(mode);
  if (on < 0) return nullptr;
  grad_enabled = on;
  Py_RETURN_NONE;
}

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

bool is_tensor(PyObject* o) { return PyObject_TypeCheck(o, reinterpret_cast<PyTypeObject*>(refs.tensor_type)); }

// a._requires_grad or a.grad_fn is not None; -1 on error.
int requires_grad(PyObject* a) {
  PyObject* flag = PyObject_GetAttr(a, refs.s_requires_grad);
  if (!flag) return -1;
  int on = PyObject_IsTrue(flag);
  Py_DECREF(flag);
  if (on != 0) return on;
  PyObject* fn = PyObject_GetAttr(a, refs.s_grad_fn);
  if (!fn) return -1;
  on = fn != Py_None;
  Py_DECREF(fn);
  return on;
}

// (a.grad_fn, a._output_nr), or (its AccumulateGrad, 0) for a leaf; new reference.
PyObject* grad_edge(PyObject* a) {
  PyObject* fn = PyObject_GetAttr(a, refs.s_grad_fn);
  if (!fn) return nullptr;
  if (fn != Py_None) {
    PyObject* nr = PyObject_GetAttr(a, refs.s_output_nr);
    if (!nr) {
      Py_DECREF(fn);
      return nullptr;
    }
    PyObject* edge = PyTuple_Pack(2, fn, nr);
    Py_DECREF(fn);
    Py_DECREF(nr);
    return edge;
  }
  Py_DECREF(fn);
  PyObject* acc = PyObject_GetAttr(a, refs.s_accumulator);
  if (acc == Py_None) {
    Py_DECREF(acc);
    acc = PyObject_CallMethodNoArgs(a, refs.s_make_accumulator);
  }
  if (!acc) return nullptr;
  PyObject* edge = PyTuple_Pack(2, acc, refs.zero);
  Py_DECREF(acc);
  return edge;
}

// An Array that forward returned, as a Tensor (what Tensor._wrap does); new reference.
PyObject* wrap_array(PyObject* array) {
  auto* type = reinterpret_cast<PyTypeObject*>(refs.tensor_type);
  PyObject* t = type->tp_alloc(type, 0);
  if (t && PyObject_SetAttr(t, refs.s_data, array) < 0) Py_CLEAR(t);
  return t;
}

bool is_array(PyObject* o) { return Py_TYPE(o) == reinterpret_cast<PyTypeObject*>(refs.array_type); }

// forward's result with its Arrays wrapped as Tensors (steals `out`).
PyObject* wrap_outputs(PyObject* out) {
  if (is_array(out)) {
    PyObject* t = wrap_array(out);
    Py_DECREF(out);
    return t;
  }
  if (!PyTuple_Check(out)) return out;
  Py_ssize_t n = PyTuple_GET_SIZE(out);
  bool any = false;
  for (Py_ssize_t i = 0; i < n; ++i) any = any || is_array(PyTuple_GET_ITEM(out, i));
  if (!any) return out;
  PyObject* wrapped = PyTuple_New(n);
  for (Py_ssize_t i = 0; wrapped && i < n; ++i) {
    PyObject* o = PyTuple_GET_ITEM(out, i);
    PyObject* w = is_array(o) ? wrap_array(o) : (Py_INCREF(o), o);
    if (!w) Py_CLEAR(wrapped);
    else PyTuple_SET_ITEM(wrapped, i, w);
  }
  Py_DECREF(out);
  return wrapped;
}

bool contains_object(PyObject* tuple, PyObject* o) {
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); ++i)
    if (PyTuple_GET_ITEM(tuple, i) == o) return true;
  return false;
}

// Floating-point Tensors take the node as grad_fn; other outputs (indices, masks) and those
// ctx.mark_non_differentiable named do not.
int mark_output(PyObject* o, PyObject* node, Py_ssize_t index, PyObject* non_differentiable) {
  if (!is_tensor(o) || contains_object(non_differentiable, o)) return 0;
  PyObject* data = PyObject_GetAttr(o, refs.s_data);
  if (!data) return -1;
  bool floating;
  try {
    floating = is_floating_point(py::handle(data).cast<const Array&>().dtype());
  } catch (const py::cast_error&) {
    floating = false;
  }
  Py_DECREF(data);
  if (!floating) return 0;
  PyObject* nr = PyLong_FromSsize_t(index);
  int rc = nr ? PyObject_SetAttr(o, refs.s_grad_fn, node) : -1;
  if (rc == 0) rc = PyObject_SetAttr(o, refs.s_output_nr, nr);
  Py_XDECREF(nr);
  return rc;
}

// ctx._output_meta = ((o.shape, o.dtype, o.device), ...): what backward needs to make zero
// gradients for outputs that received none.
int set_output_meta(PyObject* ctx, PyObject* outputs) {
  Py_ssize_t n = PyTuple_GET_SIZE(outputs);
  PyObject* meta = PyTuple_New(n);
  if (!meta) return -1;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* o = PyTuple_GET_ITEM(outputs, i);
    PyObject *shape = PyObject_GetAttr(o, refs.s_shape), *dtype = shape ? PyObject_GetAttr(o, refs.s_dtype) : nullptr,
             *device = dtype ? PyObject_GetAttr(o, refs.s_device) : nullptr;
    PyObject* entry = device ? PyTuple_Pack(3, shape, dtype, device) : nullptr;
    Py_XDECREF(shape);
    Py_XDECREF(dtype);
    Py_XDECREF(device);
    if (!entry) {
      Py_DECREF(meta);
      return -1;
    }
    PyTuple_SET_ITEM(meta, i, entry);
  }
  int rc = PyObject_SetAttr(ctx, refs.s_output_meta, meta);
  Py_DECREF(meta);
  return rc;
}

// Node(function, ctx, edges, num_outputs) with pre_hooks None, its slots set directly: the
// class has no __init__, whose Python frame would cost more than the rest of the record.
PyObject* new_node(PyObject* cls, PyObject* ctx, PyObject* edges, PyObject* count) {
  auto* type = reinterpret_cast<PyTypeObject*>(refs.node_type);
  PyObject* node = type->tp_alloc(type, 0);
  if (!node) return nullptr;
  if (PyObject_SetAttr(node, refs.s_function, cls) < 0 || PyObject_SetAttr(node, refs.s_ctx, ctx) < 0 ||
      PyObject_SetAttr(node, refs.s_edges, edges) < 0 || PyObject_SetAttr(node, refs.s_num_outputs, count) < 0 ||
      PyObject_SetAttr(node, refs.s_pre_hooks, Py_None) < 0) {
    Py_DECREF(node);
    return nullptr;
  }
  return node;
}

// Records `node` for the outputs of forward: edges from the inputs that need a gradient.
// An input returned as an output: an alias of it (a new tensor on its memory and version
// counter) takes the node, unless ctx.mark_dirty named it (an in-place Function, whose input
// then takes the node as its history, as torch's). A new reference.
PyObject* settle_output(PyObject* o, PyObject* const* args, Py_ssize_t nargs, PyObject* dirty) {
  bool is_input = false;
  for (Py_ssize_t i = 0; i < nargs && !is_input; ++i) is_input = args[i] == o;
  if (!is_input || !is_tensor(o) || contains_object(dirty, o)) {
    Py_INCREF(o);
    return o;
  }
  return PyObject_CallMethodNoArgs(o, refs.s_detach);
}

// ctx.mark_dirty's tensors: a leaf that requires grad may not be changed in place.
bool check_dirty(PyObject* dirty) {
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(dirty); ++i) {
    PyObject* t = PyTuple_GET_ITEM(dirty, i);
    if (!is_tensor(t)) continue;
    int need = requires_grad(t);
    PyObject* fn = need > 0 ? PyObject_GetAttr(t, refs.s_grad_fn) : nullptr;
    if (need < 0 || (need > 0 && !fn)) return false;
    bool leaf = fn == Py_None;
    Py_XDECREF(fn);
    if (leaf) {
      PyErr_SetString(PyExc_RuntimeError, "a leaf Variable that requires grad has been used in an in-place operation.");
      return false;
    }
  }
  return true;
}

PyObject* record(PyObject* cls, PyObject* ctx, PyObject* const* args, Py_ssize_t nargs, PyObject* needs,
                 PyObject* out) {
  PyObject* non_differentiable = PyObject_GetAttr(ctx, refs.s_non_differentiable);
  PyObject* dirty = non_differentiable ? PyObject_GetAttr(ctx, refs.s_dirty) : nullptr;
  if (!dirty || !PyTuple_Check(non_differentiable) || !PyTuple_Check(dirty) || !check_dirty(dirty)) {
    if (dirty && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "ctx marks must be tuples");
    Py_XDECREF(non_differentiable);
    Py_XDECREF(dirty);
    Py_DECREF(out);
    return nullptr;
  }
  PyObject* settled;
  if (PyTuple_Check(out)) {
    settled = PyTuple_New(PyTuple_GET_SIZE(out));
    for (Py_ssize_t i = 0; settled && i < PyTuple_GET_SIZE(out); ++i) {
      PyObject* o = settle_output(PyTuple_GET_ITEM(out, i), args, nargs, dirty);
      if (!o) Py_CLEAR(settled);
      else PyTuple_SET_ITEM(settled, i, o);
    }
  } else {
    settled = settle_output(out, args, nargs, dirty);
  }
  Py_DECREF(out);
  Py_DECREF(dirty);
  out = settled;
  PyObject* edges = out ? PyTuple_New(nargs) : nullptr;
  if (!edges) {
    Py_DECREF(non_differentiable);
    Py_XDECREF(out);
    return nullptr;
  }
  if (!edges) return nullptr;
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    PyObject* edge = PyTuple_GET_ITEM(needs, i) == Py_True ? grad_edge(args[i]) : (Py_INCREF(Py_None), Py_None);
    if (!edge) {
      Py_DECREF(edges);
      Py_DECREF(non_differentiable);
      Py_DECREF(out);
      return nullptr;
    }
    PyTuple_SET_ITEM(edges, i, edge);
  }
  bool multi = PyTuple_Check(out);
  PyObject* count = PyLong_FromSsize_t(multi ? PyTuple_GET_SIZE(out) : 1);
  PyObject* node = count ? new_node(cls, ctx, edges, count) : nullptr;
  Py_XDECREF(count);
  Py_DECREF(edges);
  int rc = node ? 0 : -1;
  if (node && !multi) {
    rc = mark_output(out, node, 0, non_differentiable);
  } else if (node) {
    rc = set_output_meta(ctx, out);
    for (Py_ssize_t i = 0; rc == 0 && i < PyTuple_GET_SIZE(out); ++i)
      rc = mark_output(PyTuple_GET_ITEM(out, i), node, i, non_differentiable);
  }
  Py_XDECREF(node);
  Py_DECREF(non_differentiable);
  if (rc != 0) Py_CLEAR(out);
  return out;
}

// Function.apply(cls, *args) as a classmethod: args[0] is the Function subclass.
PyObject* function_apply(PyObject*, PyObject* const* all, Py_ssize_t nall) {
  if (!refs.tensor_type) {
    PyErr_SetString(PyExc_RuntimeError, "fibril autograd is not initialised (autograd_setup was not called)");
    return nullptr;
  }
  if (nall < 1) {
    PyErr_SetString(PyExc_TypeError, "Function.apply expects the Function class");
    return nullptr;
  }
  PyObject* cls = all[0];
  PyObject* const* args = all + 1;
  Py_ssize_t nargs = nall - 1;

  PyObject* ctx = PyObject_CallNoArgs(refs.ctx_type);
  if (!ctx) return nullptr;
  PyObject* needs = PyTuple_New(nargs);
  PyObject* forward = needs ? PyObject_GetAttr(cls, refs.s_forward) : nullptr;
  bool any = false;
  for (Py_ssize_t i = 0; forward && i < nargs; ++i) {
    int need = is_tensor(args[i]) ? requires_grad(args[i]) : 0;
    if (need < 0) Py_CLEAR(forward);
    any = any || need > 0;
    PyObject* flag = need > 0 ? Py_True : Py_False;
    Py_INCREF(flag);
    PyTuple_SET_ITEM(needs, i, flag);
  }
  if (!forward || PyObject_SetAttr(ctx, refs.s_needs, needs) < 0) {
    Py_XDECREF(forward);
    Py_XDECREF(needs);
    Py_DECREF(ctx);
    return nullptr;
  }
  const bool record_graph = grad_enabled && any;

  // forward(ctx, *args), with grad mode off while it runs when the call is recorded.
  PyObject* small[8];
  PyObject** call_args = nall <= 8 ? small : new PyObject*[nall];
  call_args[0] = ctx;
  for (Py_ssize_t i = 0; i < nargs; ++i) call_args[i + 1] = args[i];
  if (record_graph) grad_enabled = false;
  PyObject* out = PyObject_Vectorcall(forward, call_args, nall, nullptr);
  if (record_graph) grad_enabled = true;
  if (call_args != small) delete[] call_args;
  if (out) out = wrap_outputs(out);
  Py_DECREF(forward);
  if (out && record_graph) out = record(cls, ctx, args, nargs, needs, out);  // takes out's reference
  Py_DECREF(needs);
  Py_DECREF(ctx);
  return out;
}

// A Tensor operator method (__add__, __rsub__, ...) that is one Function's apply, so that
// `a + b` runs no Python frame before forward: a method descriptor (the interpreter passes
// self without binding), the reflected variant swapping its two operands.
struct OpMethod {
  PyObject_HEAD
  PyObject* function;
  int reflected;
};

PyObject* op_method_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  auto* op = reinterpret_cast<OpMethod*>(self);
  Py_ssize_t n = PyTuple_GET_SIZE(args);
  if ((kwargs && PyDict_GET_SIZE(kwargs)) || n > 3 || (op->reflected && n != 2)) {
    PyErr_Format(PyExc_TypeError, "%s operator method takes %s positional operands",
                 reinterpret_cast<PyTypeObject*>(op->function)->tp_name, op->reflected ? "exactly 2" : "at most 3");
    return nullptr;
  }
  PyObject* all[4] = {op->function};
  for (Py_ssize_t i = 0; i < n; ++i) all[1 + i] = PyTuple_GET_ITEM(args, op->reflected ? n - 1 - i : i);
  return function_apply(nullptr, all, n + 1);
}

PyObject* op_method_get(PyObject* self, PyObject* obj, PyObject*) {
  if (!obj || obj == Py_None) {
    Py_INCREF(self);
    return self;
  }
  return PyMethod_New(self, obj);
}

void op_method_dealloc(PyObject* self) {
  Py_XDECREF(reinterpret_cast<OpMethod*>(self)->function);
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyType_Slot op_method_slots[] = {{Py_tp_call, reinterpret_cast<void*>(op_method_call)},
                                 {Py_tp_descr_get, reinterpret_cast<void*>(op_method_get)},
                                 {Py_tp_dealloc, reinterpret_cast<void*>(op_method_dealloc)},
                                 {0, nullptr}};
PyType_Spec op_method_spec = {"fibril._C.OpMethod", sizeof(OpMethod), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_METHOD_DESCRIPTOR, op_method_slots};

PyMethodDef grad_mode_defs[] = {
    {"is_grad_enabled", is_grad_enabled, METH_NOARGS, "Whether ops record the graph, in this thread."},
    {"set_grad_enabled", set_grad_enabled, METH_O, "Sets whether ops record the graph, in this thread."}};

PyMethodDef apply_def = {"function_apply", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function_apply)),
                         METH_FASTCALL,
                         "Function.apply(cls, *args): runs cls.forward and records the graph node (see "
                         "fibril.autograd.function)."};

}  // namespace

void bind_autograd(py::module_& m) {
  m.def("autograd_setup", [](py::object tensor, py::object ctx, py::object node) {
    refs.tensor_type = tensor.release().ptr();
    refs.array_type = py::type::of<Array>().release().ptr();
    refs.ctx_type = ctx.release().ptr();
    refs.node_type = node.release().ptr();
    refs.s_requires_grad = intern("_requires_grad");
    refs.s_grad_fn = intern("grad_fn");
    refs.s_output_nr = intern("_output_nr");
    refs.s_accumulator = intern("_accumulator");
    refs.s_make_accumulator = intern("_make_accumulator");
    refs.s_needs = intern("needs_input_grad");
    refs.s_forward = intern("forward");
    refs.s_data = intern("_data");
    refs.s_output_meta = intern("_output_meta");
    refs.s_shape = intern("shape");
    refs.s_dtype = intern("dtype");
    refs.s_device = intern("device");
    refs.s_function = intern("function");
    refs.s_ctx = intern("ctx");
    refs.s_edges = intern("edges");
    refs.s_num_outputs = intern("num_outputs");
    refs.s_pre_hooks = intern("pre_hooks");
    refs.s_non_differentiable = intern("_non_differentiable");
    refs.s_dirty = intern("_dirty");
    refs.s_detach = intern("detach");
    refs.zero = PyLong_FromLong(0);
  }, "Hands the Python classes the autograd fast path builds to it (called once by fibril.tensor).");
  auto op_method_type = py::reinterpret_steal<py::object>(PyType_FromSpec(&op_method_spec));
  if (!op_method_type) throw py::error_already_set();
  m.def("op_method", [op_method_type](py::object function, bool reflected) {
    auto* type = reinterpret_cast<PyTypeObject*>(op_method_type.ptr());
    auto* op = reinterpret_cast<OpMethod*>(type->tp_alloc(type, 0));
    if (!op) throw py::error_already_set();
    op->function = function.release().ptr();
    op->reflected = reflected;
    return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(op));
  }, py::arg("function"), py::arg("reflected") = false,
     "A Tensor operator method applying `function` (reflected: to the swapped operands).");
  for (PyMethodDef& def : grad_mode_defs)
    m.add_object(def.ml_name, py::reinterpret_steal<py::object>(PyCFunction_New(&def, nullptr)));
  m.add_object("function_apply", py::reinterpret_steal<py::object>(PyCFunction_New(&apply_def, nullptr)));
}

}  // namespace fibril::python
