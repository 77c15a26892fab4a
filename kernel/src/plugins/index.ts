export { type BundledPlugin, bundledPluginsOf, packageDirOf } from './bundled-plugins.js';
export {
  describeInstallError,
  type HostedPlugin,
  PluginHost,
  type RunComponents,
  statusOf,
} from './plugin-host.js';
export { loadPluginModule, type PluginModule } from './plugin-loader.js';
export { type NpmRegistry, PluginStore, resolvePackage } from './plugin-store.js';
