//! C API of the xbpf runtime: opaque handles for a runtime and a loaded ELF object, programs
//! and maps by numeric id, host helpers as C function pointers that reach program memory only
//! through checked accessors. Functions return 0 (or a positive id) on success and a negative
//! value on failure; `xbpf_last_error()` then describes the failure (per thread).
//!
//! The header `include/xbpf.h` is generated from this file by cbindgen and committed, so C
//! users need no Rust tooling to read it; `cargo test -p xbpf-capi` regenerates it in memory
//! and fails when the committed copy is stale (cbindgen is a dev-dependency, not a build
//! script, so ordinary builds do not compile it). `scripts/install-capi.sh PREFIX` installs
//! the static and shared libraries, the header and pkg-config files (`xbpf`, `xbpf-static`).
//!
//! # Safety
//!
//! Every function shares one contract with its C caller (stated once here and at the top of
//! the header, not on each function):
//! - handles are the ones `xbpf_runtime_new` and `xbpf_object_load` returned, each freed once
//!   by its `_free` function (a runtime's objects before the runtime) and not used afterwards;
//! - a pointer argument is NULL (refused with an error, unless the function says NULL is
//!   allowed) or valid for the length the call states; strings are NUL-terminated UTF-8;
//! - a runtime may be used from several threads at once, except that `xbpf_register_helper`
//!   and `xbpf_runtime_free` need it to themselves; the last error is per thread.

// The contract is the crate-wide one above, the same for every function.
#![allow(clippy::missing_safety_doc)]
#![warn(missing_docs)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use xbpf::isa::{HelperError, MemoryMap};
use xbpf::maps::MapId;
use xbpf::runtime::{LoadedObject, Runtime};

/// A runtime: an engine, its maps, programs and helpers.
pub struct XbpfRuntime {
    runtime: Runtime,
}

/// An ELF object whose maps exist in a runtime.
pub struct XbpfObject {
    object: LoadedObject,
}

/// Program memory, as a host helper sees it during a call.
pub struct XbpfMemory {
    memory: *const MemoryMap,
}

/// A host helper: gets the program's r1 to r5 and its memory, returns r0. Setting `*failed`
/// to non-zero stops the program with an error.
pub type XbpfHelperFn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        args: *const u64,
        memory: *const XbpfMemory,
        failed: *mut i32,
    ) -> u64,
>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(message: impl std::fmt::Display) {
    let text = message.to_string().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(text).unwrap_or_default());
}

/// The last error of this thread, as NUL-terminated text (valid until the next failing call).
#[unsafe(no_mangle)]
pub extern "C" fn xbpf_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

unsafe fn str_arg<'a>(text: *const c_char, what: &str) -> Option<&'a str> {
    if text.is_null() {
        set_error(format!("{what} is NULL"));
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated string that outlives the call.
    let text = unsafe { CStr::from_ptr(text) };
    text.to_str()
        .map_err(|_| set_error(format!("{what} is not UTF-8")))
        .ok()
}

unsafe fn bytes_arg<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if data.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller passes `len` readable bytes at `data`.
    unsafe { std::slice::from_raw_parts(data, len) }
}

/// Creates a runtime on engine `engine` (`"interp"` or `"jit"`; NULL for the interpreter).
/// Returns NULL on failure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_runtime_new(engine: *const c_char) -> *mut XbpfRuntime {
    let name = if engine.is_null() {
        "interp"
    } else {
        // SAFETY: non-NULL, NUL-terminated per the contract.
        match unsafe { str_arg(engine, "engine") } {
            Some(name) => name,
            None => return std::ptr::null_mut(),
        }
    };
    match xbpf::engines::engine_by_name(name) {
        Some(engine) => Box::into_raw(Box::new(XbpfRuntime {
            runtime: Runtime::new(engine),
        })),
        None => {
            set_error(format!(
                "unknown engine `{name}` (this build has: {})",
                xbpf::engines::engine_names().join(", ")
            ));
            std::ptr::null_mut()
        }
    }
}

/// Frees a runtime (NULL is ignored). Objects loaded into it must be freed first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_runtime_free(runtime: *mut XbpfRuntime) {
    if !runtime.is_null() {
        // SAFETY: created by `xbpf_runtime_new`, freed once.
        drop(unsafe { Box::from_raw(runtime) });
    }
}

/// Registers a host helper under `id` (it replaces a built-in helper with the same id).
/// Applies to programs loaded afterwards. `user` is passed back to every call; the helper may
/// be called from any thread that runs programs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_register_helper(
    runtime: *mut XbpfRuntime,
    id: u32,
    name: *const c_char,
    helper: XbpfHelperFn,
    user: *mut c_void,
) -> i32 {
    // SAFETY: a live runtime from `xbpf_runtime_new`, not used concurrently during this call.
    let Some(runtime) = (unsafe { runtime.as_mut() }) else {
        set_error("runtime is NULL");
        return -1;
    };
    // SAFETY: NUL-terminated per the contract.
    let Some(name) = (unsafe { str_arg(name, "name") }) else {
        return -1;
    };
    let Some(helper) = helper else {
        set_error("helper is NULL");
        return -1;
    };
    struct UserData(*mut c_void);
    // SAFETY: the C contract above: the host makes `user` usable from any thread.
    unsafe impl Send for UserData {}
    // SAFETY: as above.
    unsafe impl Sync for UserData {}
    impl UserData {
        // A method (not `.0`) so the closure captures the whole Send + Sync wrapper.
        fn get(&self) -> *mut c_void {
            self.0
        }
    }
    let user = UserData(user);
    runtime
        .runtime
        .register_helper(id, name, move |context, args| {
            let memory = XbpfMemory {
                memory: context.memory(),
            };
            let mut failed = 0i32;
            // SAFETY: the host's function, called with pointers valid for this call.
            let r0 = unsafe { helper(user.get(), args.as_ptr(), &memory, &mut failed) };
            if failed != 0 {
                return Err(HelperError::Failed(format!("host helper {id} failed")));
            }
            Ok(r0)
        });
    0
}

/// Copies `len` bytes of program memory at `addr` into `out`; -1 when the program may not read
/// them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_memory_read(
    memory: *const XbpfMemory,
    addr: u64,
    out: *mut u8,
    len: usize,
) -> i32 {
    // SAFETY: `memory` is the pointer a helper received, valid during its call.
    let Some(memory) = (unsafe { memory.as_ref() }) else {
        return -1;
    };
    // SAFETY: points to the run's memory map for the duration of the helper call.
    let map = unsafe { &*memory.memory };
    match map.read(addr, len) {
        Ok(bytes) if !out.is_null() || len == 0 => {
            // SAFETY: the caller passes `len` writable bytes at `out`.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, len) };
            0
        }
        _ => -1,
    }
}

/// Copies `len` bytes from `data` into program memory at `addr`; -1 when the program may not
/// write them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_memory_write(
    memory: *const XbpfMemory,
    addr: u64,
    data: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: `memory` is the pointer a helper received, valid during its call.
    let Some(memory) = (unsafe { memory.as_ref() }) else {
        return -1;
    };
    // SAFETY: points to the run's memory map for the duration of the helper call.
    let map = unsafe { &*memory.memory };
    // SAFETY: the caller passes `len` readable bytes at `data`.
    let bytes = unsafe { bytes_arg(data, len) };
    if bytes.len() != len {
        return -1;
    }
    if map.write(addr, bytes).is_ok() {
        0
    } else {
        -1
    }
}

/// Loads an ELF object (creating its maps). Returns NULL on failure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_object_load(
    runtime: *mut XbpfRuntime,
    data: *const u8,
    len: usize,
) -> *mut XbpfObject {
    // SAFETY: a live runtime.
    let Some(runtime) = (unsafe { runtime.as_ref() }) else {
        set_error("runtime is NULL");
        return std::ptr::null_mut();
    };
    // SAFETY: `len` readable bytes at `data`.
    let bytes = unsafe { bytes_arg(data, len) };
    match runtime.runtime.load_elf(bytes) {
        Ok(object) => Box::into_raw(Box::new(XbpfObject { object })),
        Err(error) => {
            set_error(error);
            std::ptr::null_mut()
        }
    }
}

/// Frees an object (NULL is ignored). Its maps and programs stay in the runtime.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_object_free(object: *mut XbpfObject) {
    if !object.is_null() {
        // SAFETY: created by `xbpf_object_load`, freed once.
        drop(unsafe { Box::from_raw(object) });
    }
}

/// Prepares program (`section`, `function`) of an object. Returns its id (> 0), or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_program_load(
    runtime: *mut XbpfRuntime,
    object: *const XbpfObject,
    section: *const c_char,
    function: *const c_char,
) -> i64 {
    // SAFETY: live handles from this API.
    let (Some(runtime), Some(object)) = (unsafe { runtime.as_ref() }, unsafe { object.as_ref() })
    else {
        set_error("runtime or object is NULL");
        return -1;
    };
    // SAFETY: NUL-terminated strings per the contract.
    let (Some(section), Some(function)) = (unsafe { str_arg(section, "section") }, unsafe {
        str_arg(function, "function")
    }) else {
        return -1;
    };
    match runtime
        .runtime
        .load_program(&object.object, section, function)
    {
        Ok(id) => i64::from(id),
        Err(error) => {
            set_error(error);
            -1
        }
    }
}

/// Assembles and prepares a program in xbpf assembly. Returns its id (> 0), or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_program_load_asm(
    runtime: *mut XbpfRuntime,
    source: *const c_char,
) -> i64 {
    // SAFETY: a live runtime.
    let Some(runtime) = (unsafe { runtime.as_ref() }) else {
        set_error("runtime is NULL");
        return -1;
    };
    // SAFETY: NUL-terminated per the contract.
    let Some(source) = (unsafe { str_arg(source, "source") }) else {
        return -1;
    };
    match runtime.runtime.load_asm(source, &[]) {
        Ok(id) => i64::from(id),
        Err(error) => {
            set_error(error);
            -1
        }
    }
}

/// Runs a program with r1 pointing to `ctx` (`ctx_len` bytes, readable and writable by the
/// program; NULL for no context). Stores r0 in `*r0` (unless `r0` is NULL). Returns 0, or -1
/// when the program faulted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_program_run(
    runtime: *mut XbpfRuntime,
    program: u32,
    ctx: *mut u8,
    ctx_len: usize,
    r0: *mut u64,
) -> i32 {
    // SAFETY: a live runtime.
    let Some(runtime) = (unsafe { runtime.as_ref() }) else {
        set_error("runtime is NULL");
        return -1;
    };
    let ctx: &mut [u8] = if ctx.is_null() || ctx_len == 0 {
        &mut []
    } else {
        // SAFETY: the caller passes `ctx_len` writable bytes not otherwise used during the run.
        unsafe { std::slice::from_raw_parts_mut(ctx, ctx_len) }
    };
    match runtime.runtime.run(program, ctx) {
        Ok(value) => {
            if !r0.is_null() {
                // SAFETY: a writable u64 per the contract.
                unsafe { *r0 = value };
            }
            0
        }
        Err(error) => {
            set_error(error);
            -1
        }
    }
}

/// The runtime id of the object's map called `name`, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_object_map(object: *const XbpfObject, name: *const c_char) -> i64 {
    // SAFETY: a live object.
    let Some(object) = (unsafe { object.as_ref() }) else {
        set_error("object is NULL");
        return -1;
    };
    // SAFETY: NUL-terminated per the contract.
    let Some(name) = (unsafe { str_arg(name, "name") }) else {
        return -1;
    };
    match object.object.map_id(name) {
        Some(id) => i64::from(id),
        None => {
            set_error(format!("the object has no map `{name}`"));
            -1
        }
    }
}

fn with_map<T>(
    runtime: *mut XbpfRuntime,
    map: MapId,
    f: impl FnOnce(&xbpf::maps::Map) -> Result<T, xbpf::maps::MapError>,
) -> Option<T> {
    // SAFETY: a live runtime (checked for NULL).
    let runtime = unsafe { runtime.as_ref() }.or_else(|| {
        set_error("runtime is NULL");
        None
    })?;
    let map = runtime.runtime.map(map).map_err(set_error).ok()?;
    f(&map).map_err(set_error).ok()
}

/// Copies the value at `key` into `value` (`value_len` bytes: the value size, or every CPU's
/// value for per-CPU maps). Returns 0, or -1 (no such element, wrong sizes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_map_lookup(
    runtime: *mut XbpfRuntime,
    map: u32,
    key: *const u8,
    key_len: usize,
    value: *mut u8,
    value_len: usize,
) -> i32 {
    // SAFETY: `key_len` readable bytes at `key`.
    let key = unsafe { bytes_arg(key, key_len) };
    let Some(found) = with_map(runtime, map, |m| m.lookup(key)) else {
        return -1;
    };
    if found.len() != value_len || value.is_null() {
        set_error(format!(
            "the value is {} bytes, the buffer {value_len}",
            found.len()
        ));
        return -1;
    }
    // SAFETY: `value_len` writable bytes at `value`.
    unsafe { std::ptr::copy_nonoverlapping(found.as_ptr(), value, value_len) };
    0
}

/// Inserts or updates `key` (flags: 0 any, 1 only new, 2 only existing). Returns 0, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_map_update(
    runtime: *mut XbpfRuntime,
    map: u32,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u64,
) -> i32 {
    // SAFETY: readable buffers of the given lengths.
    let (key, value) = unsafe { (bytes_arg(key, key_len), bytes_arg(value, value_len)) };
    match with_map(runtime, map, |m| m.update(key, value, flags)) {
        Some(()) => 0,
        None => -1,
    }
}

/// Deletes `key`. Returns 0, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xbpf_map_delete(
    runtime: *mut XbpfRuntime,
    map: u32,
    key: *const u8,
    key_len: usize,
) -> i32 {
    // SAFETY: `key_len` readable bytes at `key`.
    let key = unsafe { bytes_arg(key, key_len) };
    match with_map(runtime, map, |m| m.delete(key)) {
        Some(()) => 0,
        None => -1,
    }
}
