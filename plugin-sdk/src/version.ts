/**
 * Version of the plugin SDK contract. It must equal this package's `version`; a host refuses a
 * plugin whose `nullops.sdk` range does not include it.
 */
export const SDK_VERSION = '1.8.0';
