// E-mail for the flows: an Email Communication Service with an Azure-managed domain
// (<id>.azurecomm.net: no DNS records, usable at once, low default sending limits; add a
// custom domain for real volumes), linked to an Azure Communication Services resource the
// app sends through with its managed identity (ACS_ENDPOINT; no connection string in app
// settings). The resource still has access keys: the app does not use them, but its e-mail
// role can list them (rbac.bicep).
@description('Name of the Azure Communication Services resource.')
param communicationServiceName string

@description('Name of the Email Communication Service resource.')
param emailServiceName string

@description('Where data is kept at rest. Must be the same for both resources to link them.')
param dataLocation string = 'United States'

param tags object = {}

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

// An Azure-managed domain must be named 'AzureManagedDomain'; it comes with the
// DoNotReply sender.
resource emailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      emailDomain.id
    ]
  }
}

output name string = communicationService.name
output endpoint string = 'https://${communicationService.properties.hostName}'
output mailFromSenderDomain string = emailDomain.properties.mailFromSenderDomain
output senderAddress string = 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}'
