// Lifecycle rule for the results container (blob.upload, e-mail attachments over the mail
// limit): a result is shared by a link valid at most 7 days, so its blob is deleted some
// days after it was written instead of being kept forever.
param storageAccountName string
@description('The container the app uploads results to (RESULTS_CONTAINER).')
param containerName string
@description('Days after its last write a result blob is deleted. Keep it above 7, the longest link.')
param deleteAfterDays int = 8

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-01-01' existing = {
  name: storageAccountName
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-01-01' = {
  name: 'default'
  parent: storageAccount
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'delete-old-results'
          type: 'Lifecycle'
          definition: {
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: deleteAfterDays
                }
              }
            }
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containerName}/'
              ]
            }
          }
        }
      ]
    }
  }
}
