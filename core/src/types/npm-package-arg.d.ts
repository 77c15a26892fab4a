// The part of npm-package-arg the plugin service uses (it ships no types).
declare module 'npm-package-arg' {
  interface Result {
    name: string | null;
    type: 'git' | 'tag' | 'version' | 'range' | 'file' | 'directory' | 'remote' | 'alias';
    rawSpec: string;
    fetchSpec: string | null;
  }
  function npa(spec: string): Result;
  export default npa;
}
