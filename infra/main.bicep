// Kusto Flows on Azure Functions (Flex Consumption), modelled on the azd Functions
// quickstart templates: one user-assigned identity reaches storage, Application Insights,
// Azure Communication Services (e-mail) and, optionally, your Kusto database. App settings
// hold no keys or secrets. The one connection string among them,
// APPLICATIONINSIGHTS_CONNECTION_STRING, names the Application Insights resource (its
// instrumentation key is an identifier, not a credential); with local auth off there, only
// the identity's token gets telemetry in.
//
// As shipped, the example flows query the connection `samples`, which is the embedded
// engine (duckdb-kql, a development requirement the package does not include), and mail
// @contoso.com addresses. So the deployment keeps their timers off (enableExampleTimers)
// and mail in dry run (emailDryRun) until you point `samples` in flows/connections.yaml at
// a real cluster and configure real recipients (README, Deploy).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment, used to generate a short unique hash used in all resource names.')
param environmentName string

@minLength(1)
@description('Primary location for all resources. Must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of a user to give the same data roles as the app (storage, e-mail), for running locally against the deployed resources. Leave empty to skip.')
param principalId string = ''

// Optional name overrides; empty = generated from the resource token.
param resourceGroupName string = ''
param apiServiceName string = ''
param apiUserAssignedIdentityName string = ''
param appServicePlanName string = ''
param storageAccountName string = ''
param logAnalyticsName string = ''
param applicationInsightsName string = ''
param communicationServiceName string = ''
param emailServiceName string = ''

@description('Where Communication Services keeps data at rest. The e-mail service uses the same value, which linking the two requires.')
param dataLocation string = 'United States'

// App behaviour: app settings read by shared/settings.py.
@description('Whole-run deadline in seconds (RUN_DEADLINE_SECONDS). Keep it below functionTimeout in host.json (00:10:00 = 600 s).')
param runDeadlineSeconds int = 540

@description('Run records older than this many days are deleted (RUNS_RETENTION_DAYS).')
param runsRetentionDays int = 30

@description('How often to poll an e-mail send operation, in seconds (EMAIL_POLL_SECONDS).')
param emailPollSeconds int = 1

@description('Largest webhook body accepted, in bytes (WEBHOOK_MAX_BODY_BYTES).')
param webhookMaxBodyBytes int = 1048576

@description('EMAIL_DRY_RUN. true: every mail is written to an outbox under /tmp on the instance instead of being sent; the run history still lists the recipients. On by default, as the example flows mail @contoso.com addresses: set it to false (azd env set EMAIL_DRY_RUN false) once EMAIL_SENDER is a sender you want and the flows mail real recipients.')
param emailDryRun bool = true

@description('EMAIL_ALLOWED_DOMAINS: comma-separated recipient domains mail may go to. Empty = any.')
param emailAllowedDomains string = ''

@description('Run the example flows on their schedules. Off by default: they query the connection `samples`, the embedded engine, which is not deployed, so every firing would fail (storm-alert every 5 minutes). Set it to true (azd env set ENABLE_EXAMPLE_TIMERS true) once flows/connections.yaml points `samples` at a real cluster.')
param enableExampleTimers bool = false

// Optional: let the app's identity read your Kusto database.
@description('Name of an existing Kusto (Azure Data Explorer) cluster the flows query. Empty = no database viewer assignment.')
param kustoClusterName string = ''

@description('Database on that cluster to make the app identity a viewer of. Empty = no assignment.')
param kustoDatabaseName string = ''

@description('Resource group of that Kusto cluster. Required for the assignment: empty = no assignment (the cluster is not in the resource group created here).')
param kustoResourceGroupName string = ''

@description('Subscription of the Kusto cluster. Empty = this subscription.')
param kustoSubscriptionId string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var rgName = !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
var tags = { 'azd-env-name': environmentName }
var functionAppName = !empty(apiServiceName) ? apiServiceName : '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
// The viewer assignment needs the cluster, the database and the cluster's own resource
// group; with any of them empty it is skipped (never aimed at the group created here).
var deployKustoViewer = !empty(kustoClusterName) && !empty(kustoDatabaseName) && !empty(kustoResourceGroupName)
var kustoSubscription = !empty(kustoSubscriptionId) ? kustoSubscriptionId : subscription().subscriptionId
// A valid name even when the module is skipped (its scope is still an expression).
var kustoResourceGroup = deployKustoViewer ? kustoResourceGroupName : rgName

// The portal's per-function switch for the timers of the scheduled example flows (function
// flow_ + the flow name with '-' as '_', shared/timers.py). Always written, 'true' or
// 'false', so that enableExampleTimers decides: the site module merges the settings given
// here into the app's current ones, so a setting left out would keep its old value.
// tests/test_infra.py checks this list against flows/.
var exampleTimerDisabled = enableExampleTimers ? 'false' : 'true'
var exampleTimerSettings = {
  'AzureWebJobs.flow_nightly_joblog.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_alert.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_daily_report.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_daily_to_sql.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_damage_alert.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_event_types_pie.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_hourly_timechart.Disabled': exampleTimerDisabled
  'AzureWebJobs.flow_storm_weekly_csv_link.Disabled': exampleTimerDisabled
}
// Large results shared as links (blob.upload, e-mail attachments over the mail limit):
// uploaded to this container of the host storage account (AzureWebJobsStorage__blobServiceUri)
// and signed with user-delegation SAS links (the identity's Storage Blob Data Owner covers
// generateUserDelegationKey). Links are valid at most 7 days; the blobs are deleted after 8.
var resultsContainerName = 'flow-results'

// Organize resources in a resource group
resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: rgName
  location: location
  tags: tags
}

// The identity the function app runs as; its roles are in app/rbac.bicep and
// app/kusto-viewer.bicep. The code picks it up through AZURE_CLIENT_ID.
module apiUserAssignedIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'apiUserAssignedIdentity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: !empty(apiUserAssignedIdentityName) ? apiUserAssignedIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
  }
}

// Flex Consumption plan (FC1, Linux)
module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appserviceplan'
  scope: rg
  params: {
    name: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

// Storage: the Functions host (AzureWebJobsStorage), the deployment package container,
// Table Storage for run records (the code creates its FlowRuns and FlowRunSteps tables),
// and the run queue: each queued run is a message on flow-runs, read by the queue-triggered
// function; the host moves a message that failed maxDequeueCount times (host.json) to
// flow-runs-poison, which a second function handles. Declared here so both exist before
// the first run is queued; the identity reaches them with Storage Queue Data Contributor.
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity only: no account keys, no connection strings
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: deploymentStorageContainerName
        }
        {
          name: resultsContainerName
        }
      ]
    }
    tableServices: {
      tables: [] // created on first use by the run store
    }
    queueServices: {
      queues: [
        {
          name: 'flow-runs'
        }
        {
          name: 'flow-runs-poison'
        }
      ]
    }
    minimumTlsVersion: 'TLS1_2'
    location: location
    tags: tags
  }
}

// Monitoring: Log Analytics + workspace-based Application Insights, Entra ID auth only
// (local auth off on both, set here rather than left to the modules' defaults).
module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: '${uniqueString(deployment().name, location)}-loganalytics'
  scope: rg
  params: {
    name: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
    features: {
      disableLocalAuth: true
    }
  }
}

module monitoring 'br/public:avm/res/insights/component:0.6.0' = {
  name: '${uniqueString(deployment().name, location)}-appinsights'
  scope: rg
  params: {
    name: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

// E-mail: Communication Services + Email Communication Service + Azure-managed domain
module communication 'app/communication.bicep' = {
  name: 'communication'
  scope: rg
  params: {
    communicationServiceName: !empty(communicationServiceName) ? communicationServiceName : '${abbrs.communicationServices}${resourceToken}'
    emailServiceName: !empty(emailServiceName) ? emailServiceName : '${abbrs.communicationEmailServices}${resourceToken}'
    dataLocation: dataLocation
    tags: tags
  }
}

// The function app. api.bicep adds the identity-based host settings, AZURE_CLIENT_ID and
// RUNS_TABLE_ENDPOINT; these are the rest of what shared/settings.py reads.
module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.name
    appServicePlanId: appServicePlan.outputs.resourceId
    runtimeName: 'python'
    runtimeVersion: '3.11'
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: apiUserAssignedIdentity.outputs.resourceId
    identityClientId: apiUserAssignedIdentity.outputs.clientId
    appSettings: union({
      // Relative: read against the app's folder (where function_app.py is), not the
      // worker's current directory.
      FLOWS_DIR: 'flows'
      ACS_ENDPOINT: communication.outputs.endpoint
      EMAIL_SENDER: communication.outputs.senderAddress
      EMAIL_DRY_RUN: emailDryRun ? 'true' : 'false'
      EMAIL_ALLOWED_DOMAINS: emailAllowedDomains
      EMAIL_POLL_SECONDS: string(emailPollSeconds)
      // The deployed package is read-only; a dry run writes its .eml files here instead.
      OUTBOX_DIR: '/tmp/outbox'
      // Run records go to Table Storage; this only holds the spool of record writes that
      // waited out a storage outage (per instance, replayed by the next run or cleanup).
      STATE_DIR: '/tmp/kusto-flows'
      RUN_DEADLINE_SECONDS: string(runDeadlineSeconds)
      RUNS_RETENTION_DAYS: string(runsRetentionDays)
      WEBHOOK_MAX_BODY_BYTES: string(webhookMaxBodyBytes)
      RESULTS_CONTAINER: resultsContainerName
    }, exampleTimerSettings)
  }
}

// Role assignments for the app identity (and optionally your user)
module rbac 'app/rbac.bicep' = {
  name: 'rbacAssignments'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.name
    communicationServiceName: communication.outputs.name
    managedIdentityPrincipalId: apiUserAssignedIdentity.outputs.principalId
    userIdentityPrincipalId: principalId
  }
}

// Uploaded results are deleted a day after the longest link to them expired.
module resultsLifecycle 'app/results-lifecycle.bicep' = {
  name: 'resultsLifecycle'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: resultsContainerName
    deleteAfterDays: 8
  }
}

// Optional: database viewer on your own Kusto cluster, in that cluster's resource group
// (skipped unless the cluster, database and resource group are all set).
// The deploying user needs rights to add principals on that database.
module kustoViewer 'app/kusto-viewer.bicep' = if (deployKustoViewer) {
  name: 'kustoViewer'
  scope: resourceGroup(kustoSubscription, kustoResourceGroup)
  params: {
    kustoClusterName: kustoClusterName
    kustoDatabaseName: kustoDatabaseName
    principalClientId: apiUserAssignedIdentity.outputs.clientId
    tenantId: tenant().tenantId
  }
}

// Outputs (azd stores them in the environment: azd env get-values)
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.SERVICE_API_NAME
output AZURE_FUNCTION_APP_URL string = 'https://${api.outputs.defaultHostname}'
output FUNCTION_IDENTITY_CLIENT_ID string = apiUserAssignedIdentity.outputs.clientId
output ACS_ENDPOINT string = communication.outputs.endpoint
output EMAIL_SENDER string = communication.outputs.senderAddress
output RUNS_TABLE_ENDPOINT string = api.outputs.RUNS_TABLE_ENDPOINT
// false when the cluster, database or resource group was left empty: no viewer assignment.
output KUSTO_VIEWER_ASSIGNED bool = deployKustoViewer
