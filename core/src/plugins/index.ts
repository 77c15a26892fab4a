export { FIRST_PARTY_PLUGINS, type HostedPlugin, PluginHost, statusOf } from './plugin-host.js';
export { loadPluginModule, type PluginModule } from './plugin-loader.js';
export { type NpmRegistry, PluginStore, packageDirOf, resolvePackage } from './plugin-store.js';
