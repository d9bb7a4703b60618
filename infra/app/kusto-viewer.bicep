// Optional: make the app's identity a viewer of your Kusto (Azure Data Explorer) database,
// the same as `.add database <Db> viewers ('aadapp=<client id>;<tenant id>')`.
// Deploy this module in the cluster's resource group (main.bicep skips it unless that group
// is named). Either name empty = nothing assigned.
@description('Name of an existing Kusto cluster in this resource group. Empty = skipped.')
param kustoClusterName string = ''

@description('Name of an existing database on that cluster. Empty = skipped.')
param kustoDatabaseName string = ''

@description('Client (application) id of the identity the flows query with.')
param principalClientId string

@description('Tenant of that identity.')
param tenantId string = tenant().tenantId

var enabled = !empty(kustoClusterName) && !empty(kustoDatabaseName)

resource cluster 'Microsoft.Kusto/clusters@2023-08-15' existing = if (enabled) {
  name: enabled ? kustoClusterName : 'none'
}

resource database 'Microsoft.Kusto/clusters/databases@2023-08-15' existing = if (enabled) {
  parent: cluster
  name: enabled ? kustoDatabaseName : 'none'
}

// Viewer: read data and metadata (run queries), nothing more.
resource viewer 'Microsoft.Kusto/clusters/databases/principalAssignments@2023-08-15' = if (enabled) {
  parent: database
  name: guid(kustoClusterName, kustoDatabaseName, principalClientId, 'Viewer')
  properties: {
    principalId: principalClientId
    principalType: 'App'
    role: 'Viewer'
    tenantId: tenantId
  }
}

output assigned bool = enabled
