/** Kernels wit registers for the wasm backend (training needs more than tfjs ships). */
export function registerWasmKernels(): void {}
