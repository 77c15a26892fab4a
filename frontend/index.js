// Where the built web UI lives; the control plane serves this folder at `/`.
export const publicDir = new URL('./dist/public/', import.meta.url);
