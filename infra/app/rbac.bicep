// Role assignments for the app's user-assigned identity and, optionally, a developer's
// user (principalId) so local runs can use the same storage and e-mail resources.
// Each assignment is named with guid(scope, principal, role) so redeploying is idempotent.
param storageAccountName string
param appInsightsName string
param communicationServiceName string
@description('Principal (object) id of the app identity.')
param managedIdentityPrincipalId string
@description('Principal (object) id of a user to grant the same data roles. Empty = skipped.')
param userIdentityPrincipalId string = ''

// Built-in role definition ids
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
// Communication and Email Service Owner: the identity sends e-mail with this role, as
// Communication Services has no built-in send-only role. It is broad: full management of
// Communication and Email Services resources (read, write, delete), including ListKeys and
// RegenerateKey, so the identity can read the resource's access keys (its connection
// string) and change its settings. It is assigned on this one Communication Services
// resource only. A narrower custom role may do (the ACS SMTP docs list
// CommunicationServices/Read and /Write and EmailServices/write); not verified here for
// the REST send the app uses.
var communicationEmailRoleId = '09976791-48a7-449e-bb21-39d1a415f350'

var assignUser = !empty(userIdentityPrincipalId)

resource storageAccount 'Microsoft.Storage/storageAccounts@2022-09-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: communicationServiceName
}

// Storage Blob Data Owner - host storage (timer leases, keys), the deployment package, and
// the results container (RESULTS_CONTAINER): upload, and generateUserDelegationKey for the
// user-delegation SAS links to results (an action that Storage Blob Data Owner, Contributor,
// Reader and Delegator all include, per "Create a user delegation SAS")
resource blobRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, managedIdentityPrincipalId, storageBlobDataOwnerRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource blobRoleAssignmentUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignUser) {
  name: guid(storageAccount.id, userIdentityPrincipalId, storageBlobDataOwnerRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: userIdentityPrincipalId
    principalType: 'User'
  }
}

// Storage Queue Data Contributor - AzureWebJobsStorage__queueServiceUri: host internals and
// the run queues (sending to flow-runs, its queue trigger, the flow-runs-poison handler)
resource queueRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, managedIdentityPrincipalId, storageQueueDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource queueRoleAssignmentUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignUser) {
  name: guid(storageAccount.id, userIdentityPrincipalId, storageQueueDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: userIdentityPrincipalId
    principalType: 'User'
  }
}

// Storage Table Data Contributor - run records (RUNS_TABLE_ENDPOINT): create tables, write, delete old rows
resource tableRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, managedIdentityPrincipalId, storageTableDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource tableRoleAssignmentUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignUser) {
  name: guid(storageAccount.id, userIdentityPrincipalId, storageTableDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: userIdentityPrincipalId
    principalType: 'User'
  }
}

// Monitoring Metrics Publisher - telemetry to Application Insights with local auth disabled
resource appInsightsRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, managedIdentityPrincipalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appInsightsRoleAssignmentUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignUser) {
  name: guid(applicationInsights.id, userIdentityPrincipalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: userIdentityPrincipalId
    principalType: 'User'
  }
}

// Communication and Email Service Owner - send e-mail through ACS_ENDPOINT with the identity
// (also manages the resource and can list its keys: see communicationEmailRoleId)
resource emailRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communicationService.id, managedIdentityPrincipalId, communicationEmailRoleId)
  scope: communicationService
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationEmailRoleId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource emailRoleAssignmentUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignUser) {
  name: guid(communicationService.id, userIdentityPrincipalId, communicationEmailRoleId)
  scope: communicationService
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationEmailRoleId)
    principalId: userIdentityPrincipalId
    principalType: 'User'
  }
}
