// The function app on the Flex Consumption plan, following the azd Functions quickstarts:
// AVM site module, package deployed to a blob container, identity-based storage access.
param name string
@description('Primary location for all resources & Flex Consumption Function App')
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsName string
param appServicePlanId string
@description('App settings for the code (shared/settings.py), merged with the host settings below.')
param appSettings object = {}
param runtimeName string = 'python'
param runtimeVersion string = '3.11'
param serviceName string = 'api'
param storageAccountName string
param deploymentStorageContainerName string
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100
@description('Resource id of the user-assigned identity the app runs as.')
param identityId string
@description('Client id of that identity.')
param identityClientId string

var kind = 'functionapp,linux'
var applicationInsightsIdentity = 'ClientId=${identityClientId};Authorization=AAD'
var runsTableEndpoint = 'https://${stg.name}.table.${environment().suffixes.storage}'

// The Functions host reaches storage with the identity: no AccountKey anywhere.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: stg.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: stg.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: stg.properties.primaryEndpoints.table
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: applicationInsightsIdentity
}

// What the code needs to know about the identity and the run store.
var codeSettings = {
  // DefaultAzureCredential / ManagedIdentityCredential pick the user-assigned identity by this id.
  AZURE_CLIENT_ID: identityClientId
  // Run records (FlowRuns, FlowRunSteps) go to Table Storage in the same account.
  RUNS_TABLE_ENDPOINT: runsTableEndpoint
}

var allAppSettings = union(appSettings, codeSettings, hostSettings)

resource stg 'Microsoft.Storage/storageAccounts@2022-09-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

module api 'br/public:avm/res/web/site:0.15.1' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: kind
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [
        identityId
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${stg.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
    siteConfig: {
      alwaysOn: false
    }
    appSettingsKeyValuePairs: allAppSettings
  }
}

output SERVICE_API_NAME string = api.outputs.name
output defaultHostname string = api.outputs.defaultHostname
output RUNS_TABLE_ENDPOINT string = runsTableEndpoint
